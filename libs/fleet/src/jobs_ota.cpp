// OTA jobs in the jobs store: the check that a new job's afr_ota document can be served (its
// firmware stream names an uploaded image of the file size it says), and the query the MQTT file
// stream service authorizes a device's reads with (docs/ota-streams.md).
#include "firmware_internal.hpp"
#include "ironroot/protocol/ota_job.hpp"
#include "jobs_internal.hpp"

namespace ironroot::fleet {

using namespace jobs_detail;

namespace jobs_detail {

RegistryResult<void> check_ota_job(Database& db, std::string_view document_text) {
  // check_new_job has checked that the text is one JSON object of bounded size.
  const nlohmann::json document = nlohmann::json::parse(document_text, nullptr, false);
  if (!document.is_object() || !document.contains(std::string(protocol::kOtaJobKey))) return {};
  auto ota = protocol::OtaJobDocument::decode(document);
  if (!ota) {
    return invalid("the job document's " + std::string(protocol::kOtaJobKey) +
                   " is not an OTA job document that devices can use: " + ota.error().message);
  }
  if (!ota->stream_name) return {};  // HTTP only: no stream of ours to check
  const std::string& stream = *ota->stream_name;
  auto prefix = firmware_id_prefix_of_stream(stream);
  if (!prefix) return {};  // a stream this service does not serve: the operator's business
  auto image = firmware_detail::load_stream_image(db, *prefix);
  if (!image) return tl::unexpected(image.error());
  if (!*image) {
    return invalid("afr_ota.streamname '" + stream +
                   "' names no firmware image in the repository: upload the image first "
                   "(POST /v1/firmware) and use the streamName it answers");
  }
  const FirmwareImage& served = **image;
  if (ota->file.file_id != 0) {
    return invalid("afr_ota.files[0].fileid is " + std::to_string(ota->file.file_id) +
                   ", but firmware stream " + stream + " has one file, id 0");
  }
  if (static_cast<std::uint64_t>(ota->file.file_size) != served.size) {
    return invalid("afr_ota.files[0].filesize is " + std::to_string(ota->file.file_size) +
                   " bytes, but firmware image " + served.id + " (stream " + stream + ") is " +
                   std::to_string(served.size) + " bytes");
  }
  return {};
}

}  // namespace jobs_detail

RegistryResult<bool> JobStore::has_pending_ota_execution(std::string_view thing,
                                                         std::string_view stream_id) {
  // The thing's visible pending executions (kPendingOfThing's rule) of jobs whose document names
  // the stream. json_valid guards json_extract, which fails on malformed text, in a CASE, which
  // SQLite evaluates lazily (unlike AND).
  return exists(
      db_,
      "SELECT 1 FROM job_executions e JOIN jobs j ON j.id = e.job_id WHERE e.thing_name = ?1 AND "
      "(e.status = 'IN_PROGRESS' OR (e.status = 'QUEUED' AND e.dispatched_at IS NOT NULL)) AND "
      "CASE WHEN json_valid(j.document) THEN json_extract(j.document, '$.afr_ota.streamname') "
      "END = ?2 LIMIT 1",
      thing, stream_id);
}

}  // namespace ironroot::fleet
