"""Containment: one action ends a tester's, a cohort's or the whole program's access everywhere.

It sits above `access`, `generation` and `review` and calls each owner's services; no app below
imports it (the way Zulip's `do_deactivate_user` calls each owner and writes one audit row).
"""
