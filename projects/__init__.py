"""Project definitions: one module per project, each defining ``PROJECT = Project(...)``.

Every module here is deployed to every stack unless the stack's ``shoestring:projects`` says
``enabled: false`` for it. See README "Add a project".
"""
