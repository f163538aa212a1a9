#include "image_signer.hpp"

#include <algorithm>

#include "ironroot/boot/slot_state.hpp"
#include "ironroot/image/image.hpp"

namespace ironroot::agent {

Result<crypto::PublicKey> trusted_image_key(flash::FlashArea& slot, std::uint64_t file_size,
                                            std::span<const crypto::Sha256Digest> trusted) {
  // The bootloader's parser, over the file's bytes in flash: header and TLV areas only.
  boot::SlotImageSource source(slot, file_size);
  auto stored = image::StoredImage::read(source);
  if (!stored) return fail("the file is not a valid MCUboot image: " + stored.error().message);
  bool saw_key = false;
  for (const image::Tlv& t : stored->view().tlvs) {
    if (t.is_protected || t.type != image::tlv::kPubKey) continue;
    saw_key = true;
    const crypto::Sha256Digest hash = crypto::sha256(t.value);
    if (std::find(trusted.begin(), trusted.end(), hash) == trusted.end()) continue;
    auto key = crypto::PublicKey::from_der(t.value);
    if (!key) return fail("the image's PUBKEY TLV is not a usable key: " + key.error().message);
    return key;
  }
  if (saw_key) return fail("the image's key is not one this device trusts");
  return fail(
      "the image carries no PUBKEY TLV (sign it with --public-key-format full: this device "
      "trusts fused key hashes)");
}

}  // namespace ironroot::agent
