"""Weak 2D labels for real photos: the teacher over a photo source -> a labelled set (`smhr label`)."""
