"""smhr.eval: metrics (`metrics`), benchmark protocols (one module each: `freihand`, ...), and
report writing (`report`). The `smhr eval` command lives in `smhr.eval.cli`."""
