"""The deployable AWS stack (CDK v2 with Chalice's construct): see app.py and stack.py."""
