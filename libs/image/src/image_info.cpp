#include "ironroot/image/image_info.hpp"

#include <cstdio>
#include <sstream>

#include "ironroot/image/trailer.hpp"

namespace ironroot::image {

namespace {

std::string hex32(std::uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08x", v);
  return buf;
}

std::string hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04x", v);
  return buf;
}

nlohmann::json flag_names(std::uint32_t flags) {
  static constexpr std::pair<std::uint32_t, const char*> kNames[] = {
      {flag::kPic, "PIC"},
      {flag::kEncryptedAes128, "ENCRYPTED_AES128"},
      {flag::kEncryptedAes256, "ENCRYPTED_AES256"},
      {flag::kNonBootable, "NON_BOOTABLE"},
      {flag::kRamLoad, "RAM_LOAD"},
      {flag::kRomFixed, "ROM_FIXED"},
      {flag::kCompressedLzma1, "COMPRESSED_LZMA1"},
      {flag::kCompressedLzma2, "COMPRESSED_LZMA2"},
      {flag::kCompressedArmThumb, "COMPRESSED_ARM_THUMB"},
  };
  nlohmann::json names = nlohmann::json::array();
  std::uint32_t known = 0;
  for (auto [bit, name] : kNames) {
    known |= bit;
    if (flags & bit) names.push_back(name);
  }
  if (flags & ~known) names.push_back("UNKNOWN(" + hex32(flags & ~known) + ")");
  return names;
}

nlohmann::json describe_tlv(const Tlv& t) {
  nlohmann::json j = {{"type", hex16(t.type)},
                      {"name", std::string(tlv_type_name(t.type))},
                      {"offset", t.offset},
                      {"length", t.value.size()},
                      {"value", to_hex(t.value)}};
  if (t.type == tlv::kSecCnt && t.value.size() == kSecCntSize)
    j["security_counter"] = load_le32(t.value);
  if (t.type == tlv::kDependency && t.value.size() == kDependencySize) {
    Dependency d = Dependency::decode(t.value);
    j["image_id"] = d.image_id;
    j["min_version"] = d.min_version.to_string();
  }
  return j;
}

nlohmann::json describe_trailer(ByteView data, std::size_t image_end) {
  auto max_align = max_align_from_magic(data);
  if (data.size() <= image_end || !max_align) return nullptr;
  // Flag offsets depend only on max_align; the status area's size does not matter here.
  TrailerLayout layout{1, *max_align, 1, false};
  if (data.size() - image_end < layout.size()) return nullptr;
  // The bytes right after the image tell the erased value imgtool padded with.
  std::byte erased = data[image_end];
  TrailerState state = read_trailer(data, layout, erased);
  nlohmann::json j = {{"max_align", *max_align},
                      {"magic", std::string(to_string(state.magic))},
                      {"image_ok", std::string(to_string(state.image_ok))},
                      {"copy_done", std::string(to_string(state.copy_done))},
                      {"erased_value", hex16(std::to_integer<std::uint16_t>(erased))},
                      {"swap_type", nullptr}};
  if (state.swap_type) j["swap_type"] = std::string(swap_type_name(*state.swap_type));
  return j;
}

}  // namespace

nlohmann::json describe_image(const ImageView& image, ByteView data) {
  const ImageHeader& h = image.header;
  nlohmann::json info;
  info["header"] = {{"magic", hex32(h.magic)},
                    {"load_addr", hex32(h.load_addr)},
                    {"hdr_size", h.hdr_size},
                    {"protect_tlv_size", h.protect_tlv_size},
                    {"img_size", h.img_size},
                    {"flags", hex32(h.flags)},
                    {"flag_names", flag_names(h.flags)},
                    {"version", h.version.to_string()}};
  info["image_size"] = image.size;
  info["file_size"] = data.size();
  nlohmann::json prot = nlohmann::json::array();
  nlohmann::json unprot = nlohmann::json::array();
  for (const Tlv& t : image.tlvs) (t.is_protected ? prot : unprot).push_back(describe_tlv(t));
  info["protected_tlvs"] = prot;
  info["tlvs"] = unprot;
  auto counter = image.security_counter();
  info["security_counter"] = counter ? nlohmann::json(*counter) : nlohmann::json(nullptr);
  nlohmann::json deps = nlohmann::json::array();
  for (const Dependency& d : image.dependencies()) {
    deps.push_back({{"image_id", d.image_id}, {"min_version", d.min_version.to_string()}});
  }
  info["dependencies"] = deps;
  auto hash = check_image_hash(image, data);
  info["hash"] = hash ? nlohmann::json{{"status", "ok"}, {"sha256", to_hex(*hash)}}
                      : nlohmann::json{{"status", std::string(to_string(hash.error().fault))},
                                       {"message", hash.error().message}};
  info["trailer"] = describe_trailer(data, image.size);
  return info;
}

std::string format_image_info(const nlohmann::json& info) {
  std::ostringstream out;
  const auto& h = info["header"];
  out << "header:\n"
      << "  magic:            " << h["magic"].get<std::string>() << "\n"
      << "  load_addr:        " << h["load_addr"].get<std::string>() << "\n"
      << "  hdr_size:         " << h["hdr_size"] << "\n"
      << "  protect_tlv_size: " << h["protect_tlv_size"] << "\n"
      << "  img_size:         " << h["img_size"] << "\n"
      << "  flags:            " << h["flags"].get<std::string>();
  for (const auto& name : h["flag_names"]) out << " " << name.get<std::string>();
  out << "\n  version:          " << h["version"].get<std::string>() << "\n";
  out << "image size: " << info["image_size"] << " bytes (file " << info["file_size"] << ")\n";
  auto print_tlvs = [&](const char* title, const nlohmann::json& tlvs) {
    out << title << ":" << (tlvs.empty() ? " none" : "") << "\n";
    for (const auto& t : tlvs) {
      std::string name = t["name"].get<std::string>();
      out << "  " << (name.empty() ? t["type"].get<std::string>() : name) << " ("
          << t["type"].get<std::string>() << ", " << t["length"] << " bytes)";
      if (t.contains("security_counter")) {
        out << ": " << t["security_counter"] << " ("
            << hex32(t["security_counter"].get<std::uint32_t>()) << ")";
      } else if (t.contains("image_id")) {
        out << ": image " << t["image_id"] << " >= " << t["min_version"].get<std::string>();
      } else {
        out << ": " << t["value"].get<std::string>();
      }
      out << "\n";
    }
  };
  print_tlvs("protected TLVs", info["protected_tlvs"]);
  print_tlvs("TLVs", info["tlvs"]);
  const auto& hash = info["hash"];
  out << "hash: " << hash["status"].get<std::string>();
  if (hash.contains("message")) out << " (" << hash["message"].get<std::string>() << ")";
  out << "\n";
  const auto& trailer = info["trailer"];
  if (trailer.is_null()) {
    out << "trailer: none\n";
  } else {
    out << "trailer: magic " << trailer["magic"].get<std::string>() << ", image_ok "
        << trailer["image_ok"].get<std::string>() << ", copy_done "
        << trailer["copy_done"].get<std::string>() << ", swap_type "
        << (trailer["swap_type"].is_null() ? "unset" : trailer["swap_type"].get<std::string>())
        << ", max_align " << trailer["max_align"] << "\n";
  }
  return out.str();
}

}  // namespace ironroot::image
