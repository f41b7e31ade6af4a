"""hokusai pipeline: the library behind the `hokusai` CLI and the Metaflow flow."""

__version__ = "0.1.0"
