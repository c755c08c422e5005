"""The LangGraph agent: route -> retrieve -> tools -> generate -> verify, or refuse."""
