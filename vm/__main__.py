"""`python -m vm build|accel`: the `groundflare vm` commands, runnable before they are
registered in groundflare/cli.py (and from the Makefile, without the console script)."""

from groundflare.commands.vm import vm

vm(prog_name="python -m vm")
