"""The shipped configs, one file each (`gans list`; `--config <name>`); common.py holds what they share."""
