"""The judge's one error type: a problem a user can fix, with a message that says how."""


class JudgeError(ValueError):
    """Bad input (file, option, prompt template) or a failed run, described for the user."""
