"""nbgrader settings for this course (used by `./course release` and by instructors who grade
from the repository root). See book/instructor.md."""
import os

c = get_config()  # noqa: F821  (nbgrader provides it)

# The course folder is the folder of this file (the repository root); one assignment per
# chapter, named after its notebook (source/01_basics/01_basics.ipynb, ...).
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))  # noqa: F821
# Cells may take a while (explorers pre-draw their frames): nbgrader's default is 30 s.
c.Execute.timeout = 120
c.ExecutePreprocessor.timeout = 120
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
