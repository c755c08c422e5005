"""The Textual terminal chat for the shoe-mold agent (`shoeagent chat`)."""
