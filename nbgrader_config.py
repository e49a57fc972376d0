"""nbgrader settings for this course, in one place: used by `./course release` and by the
grading verbs (`./course assign`, `autograde`, `feedback`, `export`, `nbgrader`, `instructor`).
See book/instructor.md.

The course folder is the folder of this file (the repository root), or a folder of your own
(COURSE_DIR for the grading verbs): that folder gets a short nbgrader_config.py that names
itself in COURSE_NBGRADER_FOLDER and loads this file."""
import importlib.util
import os

from nbgrader.preprocessors import (CheckCellMetadata, ClearOutput, DeduplicateIds, GetGrades,
                                    OverwriteKernelspec)
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

HERE = os.path.dirname(os.path.abspath(__file__))
c = get_config()  # noqa: F821  (nbgrader provides it)

# -- The course -------------------------------------------------------------------------------
COURSE_ID = "deep-learning-blocks"
FOLDER = os.environ.get("COURSE_NBGRADER_FOLDER") or HERE
# Where release_assignment / fetch / submit / collect exchange files. On a shared server
# (JupyterHub) use a folder every student can read and write, e.g. "/srv/nbgrader/exchange",
# here or in $COURSE_EXCHANGE (hub/jupyterhub_config.py sets it for every user's server).
EXCHANGE = os.environ.get("COURSE_EXCHANGE") or os.path.join(FOLDER, "exchange")

c.CourseDirectory.course_id = COURSE_ID
c.CourseDirectory.root = FOLDER   # one assignment per chapter: source/01_basics/01_basics.ipynb
c.Exchange.root = EXCHANGE

# -- Running the notebooks ----------------------------------------------------------------------
# Cells may take a while (explorers pre-draw their frames): nbgrader's default is 30 s.
c.Execute.timeout = 120
c.ExecutePreprocessor.timeout = 120
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# -- Grading ------------------------------------------------------------------------------------
_spec = importlib.util.spec_from_file_location("course_nbgrader_ext",
                                               os.path.join(HERE, "tools", "nbgrader_ext.py"))
_ext = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_ext)
# A hidden-test cell as the student got it is restored without a false "checksum has
# changed" warning; an edited locked cell still warns (tools/nbgrader_ext.py).
c.Autograde.sanitize_preprocessors = [ClearOutput, DeduplicateIds, OverwriteKernelspec,
                                      _ext.HiddenTestsOverwriteCells, CheckCellMetadata]
# A graded cell the student deleted is put back and graded, never a silent 0.
c.OverwriteCells.add_missing_cells = True
# Feedback shows each hidden test's verdict (its output), not its code.
c.GenerateFeedback.preprocessors = [GetGrades, _ext.FeedbackClearHiddenTests,
                                    CSSHTMLHeaderPreprocessor]
