/*
 * Copyright 2026 UnityKernel contributors
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

/* What the benchmark's C talker and C take loop share: an rcl context and node, the QoS. */

#ifndef BENCH_RCL_H_
#define BENCH_RCL_H_

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <rcl/error_handling.h>
#include <rcl/rcl.h>
#include <rmw/qos_profiles.h>
#include <std_msgs/msg/string.h>

#define CHECK(call) do { \
    rcl_ret_t ret_ = (call); \
    if (ret_ != RCL_RET_OK) { \
      fprintf(stderr, "%s failed: %s\n", #call, rcutils_get_error_string().str); \
      exit(1); \
    } \
} while (0)

static inline uint64_t mono_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The benches' QoS: reliable, KEEP_LAST 1000, volatile. */
static inline rmw_qos_profile_t bench_qos(void)
{
  rmw_qos_profile_t qos = rmw_qos_profile_default;
  qos.reliability = RMW_QOS_POLICY_RELIABILITY_RELIABLE;
  qos.history = RMW_QOS_POLICY_HISTORY_KEEP_LAST;
  qos.depth = 1000;
  return qos;
}

static inline void bench_init(rcl_context_t * context, rcl_node_t * node, const char * name)
{
  rcl_init_options_t options = rcl_get_zero_initialized_init_options();
  CHECK(rcl_init_options_init(&options, rcl_get_default_allocator()));
  *context = rcl_get_zero_initialized_context();
  CHECK(rcl_init(0, NULL, &options, context));
  *node = rcl_get_zero_initialized_node();
  rcl_node_options_t node_options = rcl_node_get_default_options();
  CHECK(rcl_node_init(node, name, "", context, &node_options));
}

#endif  /* BENCH_RCL_H_ */
