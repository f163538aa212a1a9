#include <utility>

#include "ironroot/agent/jobs_client.hpp"
#include "ironroot/core/file.hpp"
#include "ironroot/protocol/payload_format.hpp"

namespace ironroot::agent {

namespace {

using nlohmann::json;

Result<CurrentJob> decode_job(const json& job) {
  if (!job.is_object()) return fail("\"job\" is not an object");
  CurrentJob out;
  auto id = job.find("jobId");
  if (id == job.end() || !id->is_string() ||
      !protocol::is_valid_job_id(id->get_ref<const std::string&>())) {
    return fail("\"job.jobId\" is missing or not a valid job id");
  }
  out.job_id = id->get<std::string>();
  auto number = job.find("executionNumber");
  if (number == job.end() || !number->is_number_integer() || number->get<std::int64_t>() < 0) {
    return fail("\"job.executionNumber\" is missing or not an integer >= 0");
  }
  out.execution_number = number->get<std::int64_t>();
  auto outcome = job.find("outcome");
  if (outcome == job.end()) return out;
  // The outcome is the body of the UpdateJobExecution to send: decoded (and bounded) as the
  // fleet service would decode it.
  auto update = protocol::UpdateJobExecutionRequest::decode(*outcome);
  if (!update) return fail("\"job.outcome\": " + update.error().message);
  JobOutcome decoded;
  switch (update->status) {
    case protocol::JobExecutionStatus::succeeded:
      decoded.kind = JobOutcome::Kind::succeeded;
      break;
    case protocol::JobExecutionStatus::failed:
      decoded.kind = JobOutcome::Kind::failed;
      break;
    case protocol::JobExecutionStatus::rejected:
      decoded.kind = JobOutcome::Kind::rejected;
      break;
    default:
      return fail("\"job.outcome.status\" is not SUCCEEDED, FAILED or REJECTED");
  }
  decoded.status_details = update->status_details.value_or(protocol::StatusDetails{});
  out.outcome = std::move(decoded);
  return out;
}

}  // namespace

Result<std::optional<CurrentJob>> CurrentJobFile::load() {
  std::error_code ec;
  if (!std::filesystem::exists(path_, ec) && !ec) return std::optional<CurrentJob>();
  auto data = read_file(path_, kMaxCurrentJobFileSize);
  if (!data) return prefixed(data.error(), "the current job file " + path_.string());
  auto document = protocol::decode_payload(*data, protocol::PayloadFormat::json, data->size());
  const std::string where = "the current job file " + path_.string() + " is corrupt";
  if (!document) return prefixed(document.error(), where);
  auto format = document->find("format");
  if (format == document->end() || !format->is_number_integer()) {
    return fail(where + ": no \"format\"");
  }
  if (format->get<std::int64_t>() != kFormat) {
    return fail("the current job file " + path_.string() + " has format " +
                std::to_string(format->get<std::int64_t>()) + "; this version reads format " +
                std::to_string(kFormat));
  }
  auto job = document->find("job");
  if (job == document->end()) return std::optional<CurrentJob>();
  auto decoded = decode_job(*job);
  if (!decoded) return prefixed(decoded.error(), where);
  return std::optional<CurrentJob>(std::move(*decoded));
}

Status CurrentJobFile::save(const CurrentJob& job) {
  if (!protocol::is_valid_job_id(job.job_id) || job.execution_number < 0) {
    return fail("cannot remember job \"" + job.job_id + "\": not a valid job id and number");
  }
  json record{{"jobId", job.job_id}, {"executionNumber", job.execution_number}};
  if (job.outcome) {
    auto status = final_status(job.outcome->kind);
    if (!status) return fail("cannot remember an outcome that is not final");
    protocol::UpdateJobExecutionRequest update;
    update.status = *status;
    update.status_details = job.outcome->status_details;
    record["outcome"] = update.encode();
  }
  const json document{{"format", kFormat}, {"job", std::move(record)}};
  const std::string text = document.dump();
  if (text.size() > kMaxCurrentJobFileSize) return fail("the current job record is too large");
  if (auto ok = write_file_atomic(path_, as_bytes(text), 0600); !ok) {
    return prefixed(ok.error(), "writing the current job file " + path_.string());
  }
  return {};
}

Status CurrentJobFile::clear() {
  const std::string text = json{{"format", kFormat}}.dump();
  if (auto ok = write_file_atomic(path_, as_bytes(text), 0600); !ok) {
    return prefixed(ok.error(), "writing the current job file " + path_.string());
  }
  return {};
}

}  // namespace ironroot::agent
