// Appending JSON values to a text being built, for the few hot messages that are rendered
// straight into a string instead of through a DOM (each DOM node is an allocation). Strings
// that need escaping go through nlohmann's serializer; the others are copied as they are.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace oak {

// `s` as a JSON string (quoted; invalid UTF-8 replaced, as json::dump with error_handler replace).
void AppendJsonString(std::string& out, std::string_view s);
// As json::dump writes them: the shortest form that reads back as the same double, with a
// fraction or an exponent (5.0); null for NaN and infinities.
void AppendJsonNumber(std::string& out, double v);
void AppendJsonNumber(std::string& out, int64_t v);
// `"key":`, preceded by a comma unless it opens its object.
void AppendJsonKey(std::string& out, std::string_view key);

}  // namespace oak
