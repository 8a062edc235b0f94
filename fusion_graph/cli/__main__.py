"""``python -m fusion_graph.cli``: the ``fusion`` command line."""

from fusion_graph.cli import main

if __name__ == "__main__":
    main()
