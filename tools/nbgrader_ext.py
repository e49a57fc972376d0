"""nbgrader preprocessors of this course (nbgrader_config.py configures them).

HiddenTestsOverwriteCells: nbgrader 0.9.6's OverwriteCells compares each locked cell of a
submission with the instructor's source and warns "Attribute 'checksum' for cell ... has
changed!" before restoring the source. A hidden-test cell always differs (the student got it
with its hidden region removed), so every submission drew a false warning per hidden-test cell
(nbgrader #1961). Here a locked cell that is exactly what the student was given, the source
with its hidden regions removed, is restored silently; any other difference (a student who
edited a locked cell) still warns and is restored, as before.

It also puts back deleted graded cells (with OverwriteCells.add_missing_cells) where nbgrader
0.9.6 fails: nbgrader inserts a missing cell after the cell just before it in the source and
stops with a KeyError when that cell was deleted too (a student who deleted an exercise's
solution and check cells); here it goes after the nearest earlier cell still present.

FeedbackClearHiddenTests is ClearHiddenTests for the feedback pages, which accepts the HTML
exporter's display_data_priority setting (nbgrader's own warns "not recognized" on each run).
"""
from nbgrader import utils
from nbgrader.api import MissingEntry
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, OverwriteCells
from traitlets import List


def as_released(source, begin="BEGIN HIDDEN TESTS", end="END HIDDEN TESTS"):
    """The source as generate_assignment gives it to students: hidden regions removed
    (the same rule as nbgrader's ClearHiddenTests)."""
    kept, inside = [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif not inside:
            kept.append(line)
    return "\n".join(kept)


class HiddenTestsOverwriteCells(OverwriteCells):
    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None:
            try:
                source = self.gradebook.find_source_cell(grade_id, self.notebook_id,
                                                         self.assignment_id)
            except MissingEntry:
                source = None
            hidden = ClearHiddenTests(parent=self)
            begin, end = hidden.begin_test_delimeter, hidden.end_test_delimeter
            if (source is not None and source.locked and begin in source.source
                    and cell.source == as_released(source.source, begin, end)):
                cell.source = source.source   # put the hidden tests back, nothing to report
        return super().preprocess_cell(cell, resources, cell_index)

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [c.name for c in source_nb.source_cells]       # the source's order
        graded = {c.name: c for c in source_nb.grade_cells}
        solutions = {c.name for c in source_nb.solution_cells}
        source = dict(zip(order, source_nb.source_cells))
        for i, name in enumerate(order):
            present = {c["metadata"]["nbgrader"]["grade_id"]: k for k, c in enumerate(nb.cells)
                       if utils.is_grade(c) or utils.is_solution(c)}
            if name not in graded or name in present:
                continue
            self.log.warning(f"Missing grade cell {name} encountered, adding to notebook")
            earlier = [present[n] for n in order[:i] if n in present]
            nb.cells.insert(earlier[-1] + 1 if earlier else 0, self.missing_cell_transform(
                source[name], graded[name].max_score, is_solution=name in solutions))
        return nb, resources


class FeedbackClearHiddenTests(ClearHiddenTests):
    display_data_priority = List(GetGrades.display_data_priority.default_value, config=True)
