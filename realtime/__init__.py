"""The live layer: group names, typed payloads, the publisher and the base consumer.

Everything that reaches a browser socket goes through here. It sits above `access` (consumers check
standing with `User.may_act`) and below `generation` and `review`, which build payloads from their
own rows and publish them; it never imports either.
"""
