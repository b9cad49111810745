"""The only package in Vernissage that touches torch and diffusers.

Importing this package or any of its modules (``constraints``, ``video``, ``runner``, ``demo``)
never imports torch: the web process imports them to validate requests, and must stay light.
torch, diffusers and transformers are imported inside the functions that need them
(``runner.load_pipeline``, ``runner.render``, ``demo.ensure_demo_model``), which only workers call.
"""
