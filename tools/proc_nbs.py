"""Run `nbdev-proc-nbs` (the first step of `nbdev-docs`: every notebook processed as the docs site will show it)
on a machine without Quarto.

`nbdev-proc-nbs` itself needs no Quarto, but it first checks that Quarto is installed and, when it is not, tries
to install it from the web with sudo. Here (and on CI machines without Quarto) that check is skipped; everything
else runs exactly as in `nbdev-docs`: the notebooks' cells that import or export are executed in order, directives
and `show_doc` are processed, and the result is written to `_proc/`. A notebook that fails here fails the docs build.

    python tools/proc_nbs.py
"""
import sys
import nbdev.quarto as q

def main():
    q._ensure_quarto = lambda: None  # only the Quarto install check is skipped (see above)
    q.nbdev_proc_nbs.__wrapped__()
    print('every notebook processed for the docs (_proc/)')

if __name__ == '__main__': sys.exit(main())
