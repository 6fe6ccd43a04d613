"""Human-in-the-loop validation (XP paper 2.1.3): a stratified review sheet out, labels back in,
relevancy rate, error attribution and agreement with the combined-score decision.

Public surface::

    from xpollinate.review import export_sheet, import_labels, read_sheet, write_labels
"""

from xpollinate.review.sheet import Label, ReviewResult, export_sheet, import_labels, read_sheet, write_labels

__all__ = ["Label", "ReviewResult", "export_sheet", "import_labels", "read_sheet", "write_labels"]
