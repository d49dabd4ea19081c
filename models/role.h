// The two roles of a nested pair, as the motivation policy decides between
// them each step: the base model, or the motivated model that contains it.
#pragma once

namespace motive {

enum class Role { Base, Motivated };
inline const char* role_name(Role r) { return r == Role::Base ? "base" : "motivated"; }

}  // namespace motive
