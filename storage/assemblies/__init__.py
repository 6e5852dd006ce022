"""The ``assemblies`` storage app: the registry of assemblies, their rooms, and (kept apart) the
sensitive facts about people: private self-declarations, pending declaration requests, secretaries'
admissions and enforcement warnings."""
