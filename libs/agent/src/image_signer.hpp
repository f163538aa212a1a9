// Which trusted key signed the MCUboot image the update slot holds, read from flash by the
// bootloader's parser (image::StoredImage: the header and TLV areas only, bounded RAM): the key
// the OTA agent checks the job's file signature with.
#pragma once

#include <cstdint>
#include <span>

#include "ironroot/core/result.hpp"
#include "ironroot/crypto/digest.hpp"
#include "ironroot/crypto/key.hpp"
#include "ironroot/flash/flash_area.hpp"

namespace ironroot::agent {

// The public key in the unprotected PUBKEY TLV of the image at the start of `slot` (imgtool's
// --public-key-format full, which ironroot's devices need because they fuse key hashes) whose
// SHA-256 is one of `trusted`. Reads nothing at or past `file_size`. Fails, saying why, when the
// file is not a well-formed MCUboot image with such a TLV. Nothing is verified here.
Result<crypto::PublicKey> trusted_image_key(flash::FlashArea& slot, std::uint64_t file_size,
                                            std::span<const crypto::Sha256Digest> trusted);

}  // namespace ironroot::agent
