#include "model/sla_fields.h"

#include <cmath>
#include <cstdint>
#include <limits>

namespace oak::model::sla_detail {
namespace {

std::string Got(const json& v) { return std::string(" (got ") + v.type_name() + ")"; }

oak::Status Missing(std::string_view path, const char* key) { return Fail(Child(path, key), "required"); }

}  // namespace

std::string Child(std::string_view path, std::string_view key) {
  std::string out(path);
  if (!out.empty()) out += '.';
  out += key;
  return out;
}

std::string Item(std::string_view path, std::size_t index) {
  return std::string(path) + "[" + std::to_string(index) + "]";
}

std::string Quote(std::string_view text) {
  constexpr std::size_t kMax = 64;
  std::string cut(text.substr(0, kMax));
  try {
    std::string q = json(cut).dump(-1, ' ', false, json::error_handler_t::replace);
    if (text.size() > kMax) q += "...";
    return q;
  } catch (const std::exception&) {
    return "\"?\"";
  }
}

oak::Status Fail(std::string_view path, std::string_view reason) {
  std::string m(path);
  m += ": ";
  m += reason;
  return oak::Status::Invalid(std::move(m));
}

// A null member counts as absent: Oakestra's dashboard sends null for fields a user cleared.
const json* Find(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

oak::Status StringField(const json& obj, const char* key, std::string_view path, Need need,
                        std::string_view* out) {
  const json* v = Find(obj, key);
  if (v == nullptr) return need == Need::kRequired ? Missing(path, key) : oak::Status::Ok();
  if (!v->is_string()) return Fail(Child(path, key), "must be a string" + Got(*v));
  if (out != nullptr) *out = v->get_ref<const std::string&>();
  return oak::Status::Ok();
}

oak::Status CountField(const json& obj, const char* key, std::string_view path, Need need) {
  const json* v = Find(obj, key);
  if (v == nullptr) return need == Need::kRequired ? Missing(path, key) : oak::Status::Ok();
  // nlohmann keeps integers and floats apart: 100.0 is a float and is refused here.
  if (!v->is_number_integer()) return Fail(Child(path, key), "must be an integer" + Got(*v));
  if (v->is_number_unsigned()) {
    if (v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Fail(Child(path, key), "must be at most 9223372036854775807");
    }
  } else if (v->get<int64_t>() < 0) {
    return Fail(Child(path, key), "must not be negative");
  }
  return oak::Status::Ok();
}

oak::Status NumberField(const json& obj, const char* key, std::string_view path, Need need, double* out) {
  const json* v = Find(obj, key);
  if (v == nullptr) return need == Need::kRequired ? Missing(path, key) : oak::Status::Ok();
  if (!v->is_number()) return Fail(Child(path, key), "must be a number" + Got(*v));
  const double d = v->get<double>();
  // Parsed JSON cannot hold NaN or infinity, but documents built in code can.
  if (!std::isfinite(d)) return Fail(Child(path, key), "must be a finite number");
  if (out != nullptr) *out = d;
  return oak::Status::Ok();
}

oak::Status NonNegativeField(const json& obj, const char* key, std::string_view path, Need need) {
  double d = 0;
  OAK_RETURN_IF_ERROR(NumberField(obj, key, path, need, &d));
  if (d < 0) return Fail(Child(path, key), "must not be negative");
  return oak::Status::Ok();
}

oak::Status BoolField(const json& obj, const char* key, std::string_view path, Need need) {
  const json* v = Find(obj, key);
  if (v == nullptr) return need == Need::kRequired ? Missing(path, key) : oak::Status::Ok();
  if (!v->is_boolean()) return Fail(Child(path, key), "must be a boolean" + Got(*v));
  return oak::Status::Ok();
}

oak::Status StringArrayField(const json& obj, const char* key, std::string_view path, Need need, bool no_nul) {
  const json* arr = nullptr;
  OAK_RETURN_IF_ERROR(ArrayField(obj, key, path, need, &arr));
  if (arr == nullptr) return oak::Status::Ok();
  const std::string base = Child(path, key);
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const json& e = (*arr)[i];
    if (!e.is_string()) return Fail(Item(base, i), "must be a string" + Got(e));
    if (no_nul && e.get_ref<const std::string&>().find('\0') != std::string::npos) {
      return Fail(Item(base, i), "must not contain a NUL character");
    }
  }
  return oak::Status::Ok();
}

oak::Status ArrayField(const json& obj, const char* key, std::string_view path, Need need, const json** out) {
  *out = nullptr;
  const json* v = Find(obj, key);
  if (v == nullptr) return need == Need::kRequired ? Missing(path, key) : oak::Status::Ok();
  if (!v->is_array()) return Fail(Child(path, key), "must be an array" + Got(*v));
  *out = v;
  return oak::Status::Ok();
}

oak::Status ObjectField(const json& obj, const char* key, std::string_view path, Need need, const json** out) {
  *out = nullptr;
  const json* v = Find(obj, key);
  if (v == nullptr) return need == Need::kRequired ? Missing(path, key) : oak::Status::Ok();
  if (!v->is_object()) return Fail(Child(path, key), "must be an object" + Got(*v));
  *out = v;
  return oak::Status::Ok();
}

}  // namespace oak::model::sla_detail
