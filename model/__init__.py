"""Generation with StarCoder-family models, and the tiny demo model the project trains itself."""
