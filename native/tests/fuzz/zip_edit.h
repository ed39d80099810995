// A lenient reader and a writer of stored (uncompressed) zip archives, independent of the
// runtime's own zip code, for the CRC-keeping torch-zip target: a record is taken out,
// mutated and the archive written again with correct sizes, offsets and CRC-32s, so the
// reader's checksum check passes and the damage reaches the unpickler.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "fuzz.h"

namespace viscpm::fuzz {

struct ZipEntry {
  std::string name;
  Bytes data;
};

// The entries in central-directory order; false unless the bytes are a well-formed
// stored archive (ZIP64 fields understood).
bool split_zip(const Bytes& zip, std::vector<ZipEntry>& entries);

// A stored archive in torch.save's layout: data 64-byte aligned (padding in an "FB" extra
// field), CRC-32 and sizes filled in, no ZIP64 (the entries here are small).
Bytes join_zip(const std::vector<ZipEntry>& entries);

// Rewrites the CRC-32 of every entry (its local header and central directory fields)
// whose data range lies inside the bytes, so any damage behind the headers passes the
// checksum. Returns the number of entries fixed; bytes that are no zip are left alone.
size_t fix_zip_crcs(Bytes& zip);

}  // namespace viscpm::fuzz
