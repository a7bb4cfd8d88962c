#pragma once
/// \file
/// The kernel matrix as a picture (`vma-harness matrix --svg FILE`): the
/// probe x kernel table with one coloured cell per verdict, and the ASLR
/// bits of each region per kernel as bars. Pure: built from the entries'
/// saved reports, so tests feed it saved JSON and no QEMU.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "result.h"
#include "vm/matrix.h"

namespace vma::harness::vm {

/// A standalone SVG document: a column per entry (kernel, release, CPU
/// model; a boot that never reported is a column that says so), a row per
/// probe (cell colour: pass, fail, skip, error; `<title>` gives the reason),
/// differing rows marked, then a row per ASLR region with one bar per entry
/// whose length is the bits measured.
std::string matrix_svg(const std::vector<MatrixEntry>& entries);

/// The entries of a saved `vma-harness matrix --format json` document
/// (matrix_json's shape), to draw a matrix again without booting. Errors
/// name the field: `kernels[1].exit_status: expected a number`.
Result<std::vector<MatrixEntry>> entries_from_json(const nlohmann::json& j);

}  // namespace vma::harness::vm
