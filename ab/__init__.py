"""A/B comparisons of item-XP arms (graph + prompt versions + model) over the same anchors, judged
by the same judge and cross-encoder, reported as the XP paper's section 3 tables with paired statistics.

Public surface::

    from xpollinate.ab import Arm, parse_arm, load_run, build_report
"""

from xpollinate.ab.arms import Arm, parse_arm
from xpollinate.ab.report import Report, build_report
from xpollinate.ab.runs import load_run

__all__ = ["Arm", "Report", "build_report", "load_run", "parse_arm"]
