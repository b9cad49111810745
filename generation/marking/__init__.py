"""Invisible, keyed marks in rendered frames, and finding them again in a leaked copy.

Pure numpy/OpenCV: the worker imports it in its encoding stage and the trace tools in theirs;
nothing here touches Django, torch or a GPU. See `tile.py` for the algorithm and `base.py` for the
`Watermarker` interface another algorithm (e.g. a neural one whose weights are on disk) implements.
"""
