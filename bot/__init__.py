"""The application: the terminal CLI and the Discord bot over one service."""
