// /v1/firmware and /v1/code-signing-keys: the firmware repository (firmware.hpp). Images are
// uploaded as binary bodies (application/octet-stream), everything else is JSON.
#include <algorithm>
#include <cctype>

#include "ironroot/fleet/firmware.hpp"
#include "rest_api_internal.hpp"

namespace ironroot::fleet::rest {

namespace {

using nlohmann::json;

Result<FirmwareStore*, ApiError> firmware_of(const Call& call) {
  if (call.firmware == nullptr) return unavailable("the firmware repository");
  return call.firmware;
}

json key_json(const CodeSigningKey& key) {
  json out = {{"keyId", key.id},
              {"name", key.name},
              {"type", std::string(crypto::key_type_name(key.type))},
              {"publicKeyPem", key.pem},
              {"status", std::string(code_signing_key_status_name(key.status))},
              {"createdAt", time_text(key.created_at)}};
  if (key.revoked_at) out["revokedAt"] = time_text(*key.revoked_at);
  return out;
}

json firmware_json(const FirmwareImage& image) {
  json out = {{"firmwareId", image.id},
              {"version", image.version.to_string()},
              {"imageHash", image.image_hash},
              {"signingKeyId", image.signing_key_id},
              {"signingKeyRevoked", image.signing_key_revoked},
              {"size", image.size},
              {"loadAddr", image.load_addr},
              {"flags", image.flags},
              {"uploadedAt", time_text(image.uploaded_at)},
              {"uploadedBy", image.uploaded_by}};
  if (image.name) out["name"] = *image.name;
  if (image.description) out["description"] = *image.description;
  if (image.security_counter) out["securityCounter"] = *image.security_counter;
  return out;
}

// "application/octet-stream", in any case, with or without parameters.
bool is_octet_stream(std::string_view content_type) {
  content_type = content_type.substr(0, content_type.find(';'));
  while (!content_type.empty() && content_type.back() == ' ') content_type.remove_suffix(1);
  constexpr std::string_view kOctetStream = "application/octet-stream";
  return content_type.size() == kOctetStream.size() &&
         std::equal(
             content_type.begin(), content_type.end(), kOctetStream.begin(),
             [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; });
}

Answer upload_firmware(Call& call) {
  auto store = firmware_of(call);
  if (!store) return tl::unexpected(store.error());
  if (!is_octet_stream(call.content_type)) {
    return bad_request(
        "send the image itself as the request body, with Content-Type: application/octet-stream "
        "(curl: -H 'Content-Type: application/octet-stream' --data-binary @image.bin)");
  }
  FirmwareUpload upload;
  upload.name = query_value(call, "name");
  upload.description = query_value(call, "description");
  auto uploaded = (*store)->upload(call.actor, as_bytes(call.content), upload);
  if (!uploaded) return refused(uploaded.error());
  return Reply{uploaded->created ? 201 : 200, firmware_json(uploaded->image)};
}

Answer list_firmware(Call& call) {
  auto store = firmware_of(call);
  if (!store) return tl::unexpected(store.error());
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  FirmwareOrder order = FirmwareOrder::newest_first;
  if (auto text = query_value(call, "order")) {
    if (*text != "newest" && *text != "version") {
      return bad_request("query parameter 'order' must be newest or version");
    }
    if (*text == "version") order = FirmwareOrder::by_version;
  }
  return answer((*store)->list(*page, order), 200,
                [](const Listing<FirmwareImage>& l) { return listing_json(l, firmware_json); });
}

Answer describe_firmware(Call& call) {
  auto store = firmware_of(call);
  if (!store) return tl::unexpected(store.error());
  return answer((*store)->describe(call.segments[0]), 200, firmware_json);
}

Answer delete_firmware(Call& call) {
  auto store = firmware_of(call);
  if (!store) return tl::unexpected(store.error());
  return no_content((*store)->remove(call.actor, call.segments[0]));
}

Answer register_key(Call& call) {
  auto store = firmware_of(call);
  if (!store) return tl::unexpected(store.error());
  Fields f(call.body, {"name", "publicKeyPem"});
  NewCodeSigningKey key;
  key.name = f.text("name", true).value_or("");
  key.public_key_pem = f.text("publicKeyPem", true).value_or("");
  if (f.error()) return tl::unexpected(*f.error());
  return answer((*store)->register_key(call.actor, key), 201, key_json);
}

Answer list_keys(Call& call) {
  auto store = firmware_of(call);
  if (!store) return tl::unexpected(store.error());
  auto page = page_of(call);
  if (!page) return tl::unexpected(page.error());
  return answer((*store)->list_keys(*page), 200,
                [](const Listing<CodeSigningKey>& l) { return listing_json(l, key_json); });
}

Answer describe_key(Call& call) {
  auto store = firmware_of(call);
  if (!store) return tl::unexpected(store.error());
  return answer((*store)->describe_key(call.segments[0]), 200, key_json);
}

Answer revoke_key(Call& call) {
  auto store = firmware_of(call);
  if (!store) return tl::unexpected(store.error());
  return answer((*store)->revoke_key(call.actor, call.segments[0]), 200, key_json);
}

}  // namespace

std::vector<Route> firmware_routes() {
  return {
      {"POST", "/v1/firmware", {"name", "description"}, kBinaryBody, upload_firmware},
      {"GET", "/v1/firmware", {"limit", "next", "order"}, kNoBody, list_firmware},
      {"GET", "/v1/firmware/*", {}, kNoBody, describe_firmware},
      {"DELETE", "/v1/firmware/*", {}, kNoBody, delete_firmware},
  };
}

std::vector<Route> code_signing_key_routes() {
  return {
      {"POST", "/v1/code-signing-keys", {}, kBody, register_key},
      {"GET", "/v1/code-signing-keys", {"limit", "next"}, kNoBody, list_keys},
      {"GET", "/v1/code-signing-keys/*", {}, kNoBody, describe_key},
      {"PUT", "/v1/code-signing-keys/*/revoke", {}, kNoBody, revoke_key},
  };
}

}  // namespace ironroot::fleet::rest
