"""smhr.eval"""
