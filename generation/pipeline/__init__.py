"""The only package in Vernissage that touches torch and diffusers.

Importing this package or any of its modules (``constraints``, ``video``, ``runner``, ``demo``,
``previews``) never imports torch: the web process imports them to validate requests, and must
stay light. torch, diffusers and transformers are imported inside the functions that need them
(``runner.load_pipeline``, ``runner.render``, ``demo.ensure_demo_model``,
``previews.preview_tensor``), which only workers call.
"""
