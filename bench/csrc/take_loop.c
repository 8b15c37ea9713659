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

/*
 * The benchmark's reference receiver in C: `take_loop TOPIC SECONDS` loops rcl_wait +
 * rcl_take_serialized_message on one subscription (reliable, KEEP_LAST 1000) and counts the
 * distinct message numbers ("<n> ..." at the start of a std_msgs/String), until SECONDS or
 * SIGINT; prints "ready" once subscribed and {"mode": "c-take", "received": N} at the end.
 */

#include <signal.h>
#include <stdint.h>
#include <string.h>

#include <rcl/subscription.h>
#include <rcl/wait.h>

#include "bench_rcl.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
  (void)sig;
  stop = 1;
}

int main(int argc, char ** argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: take_loop TOPIC SECONDS\n");
    return 2;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  uint64_t until = mono_ns() + (uint64_t)(atof(argv[2]) * 1e9);
  rcl_context_t context;
  rcl_node_t node;
  bench_init(&context, &node, "c_take_loop");
  rcl_subscription_t sub = rcl_get_zero_initialized_subscription();
  rcl_subscription_options_t options = rcl_subscription_get_default_options();
  options.qos = bench_qos();
  CHECK(rcl_subscription_init(&sub, &node, ROSIDL_GET_MSG_TYPE_SUPPORT(std_msgs, msg, String),
    argv[1], &options));
  rcl_wait_set_t ws = rcl_get_zero_initialized_wait_set();
  CHECK(rcl_wait_set_init(&ws, 1, 0, 0, 0, 0, 0, &context, rcl_get_default_allocator()));
  rcl_serialized_message_t msg = rmw_get_zero_initialized_serialized_message();
  rcutils_allocator_t allocator = rcutils_get_default_allocator();
  if (rmw_serialized_message_init(&msg, 1 << 16, &allocator) != RMW_RET_OK) {
    return 1;
  }
  size_t cap = 1 << 20;
  uint8_t * seen = calloc(cap, 1);
  long received = 0;
  printf("ready\n");
  fflush(stdout);
  while (!stop && mono_ns() < until) {
    CHECK(rcl_wait_set_clear(&ws));
    CHECK(rcl_wait_set_add_subscription(&ws, &sub, NULL));
    rcl_ret_t ret = rcl_wait(&ws, RCL_MS_TO_NS(50));
    if (ret == RCL_RET_TIMEOUT) {
      continue;
    }
    if (ret != RCL_RET_OK) {
      break;
    }
    rmw_message_info_t info = rmw_get_zero_initialized_message_info();
    while (rcl_take_serialized_message(&sub, &msg, &info, NULL) == RCL_RET_OK) {
      long n = msg.buffer_length > 8 ? strtol((const char *)msg.buffer + 8, NULL, 10) : -1;
      if (n >= 0) {
        if ((size_t)n >= cap) {
          size_t bigger = cap;
          while (bigger <= (size_t)n) {
            bigger *= 2;
          }
          seen = realloc(seen, bigger);
          memset(seen + cap, 0, bigger - cap);
          cap = bigger;
        }
        if (!seen[n]) {
          seen[n] = 1;
          received++;
        }
      }
    }
  }
  printf("{\"mode\": \"c-take\", \"received\": %ld}\n", received);
  fflush(stdout);
  (void)rcl_wait_set_fini(&ws);
  (void)rcl_subscription_fini(&sub, &node);
  (void)rcl_node_fini(&node);
  (void)rcl_shutdown(&context);
  return 0;
}
