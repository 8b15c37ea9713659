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
 * The benchmark's talker in C: `talker TOPIC COUNT RATE SIZE [SUBSCRIBERS]` publishes COUNT
 * std_msgs/String messages of SIZE CDR bytes (data: "<n> " then padding) paced at RATE/s
 * (0: as fast as it can), reliable KEEP_LAST 1000, pre-serialized (no Python, no
 * serialization per message: the publisher is never the limit). Prints "talker: ready"
 * once SUBSCRIBERS (1) matched, "talker: done" at the end; a publish that fails (the
 * reliable history stayed full) ends it with exit code 3.
 */

#include <stdint.h>
#include <string.h>

#include <rcl/publisher.h>
#include <rosidl_runtime_c/message_type_support_struct.h>

#include "bench_rcl.h"

int main(int argc, char ** argv)
{
  if (argc < 5) {
    fprintf(stderr, "usage: talker TOPIC COUNT RATE SIZE [SUBSCRIBERS]\n");
    return 2;
  }
  const char * topic = argv[1];
  long count = atol(argv[2]);
  double rate = atof(argv[3]);
  long size = atol(argv[4]);
  long subscribers = argc > 5 ? atol(argv[5]) : 1;
  if (size < 32) {
    size = 32;
  }
  rcl_context_t context;
  rcl_node_t node;
  bench_init(&context, &node, "c_talker");
  rcl_publisher_t pub = rcl_get_zero_initialized_publisher();
  rcl_publisher_options_t options = rcl_publisher_get_default_options();
  options.qos = bench_qos();
  CHECK(rcl_publisher_init(&pub, &node, ROSIDL_GET_MSG_TYPE_SUPPORT(std_msgs, msg, String),
    topic, &options));
  /* CDR: encapsulation (LE), string length with its NUL, the text, NUL, padding to 4 */
  size_t text = (size_t)size - 4 - 4 - 1;
  uint8_t * cdr = calloc(1, (size_t)size + 8);
  cdr[1] = 0x01;
  uint32_t n = (uint32_t)(text + 1);
  memcpy(cdr + 4, &n, 4);
  memset(cdr + 8, 'x', text);
  rcl_serialized_message_t msg = rmw_get_zero_initialized_serialized_message();
  msg.buffer = cdr;
  msg.buffer_length = 8 + text + 1;
  msg.buffer_capacity = (size_t)size + 8;
  size_t matched = 0;
  uint64_t until = mono_ns() + 30000000000ull;
  while (matched < (size_t)subscribers) {
    CHECK(rcl_publisher_get_subscription_count(&pub, &matched));
    if (mono_ns() > until) {
      printf("talker: no subscriber\n");
      return 1;
    }
    struct timespec pause = {0, 50000000};
    nanosleep(&pause, NULL);
  }
  struct timespec settle = {0, 500000000};
  nanosleep(&settle, NULL);
  printf("talker: ready\n");
  fflush(stdout);
  uint64_t start = mono_ns();
  for (long i = 0; i < count; i++) {
    char digits[24];
    int k = snprintf(digits, sizeof(digits), "%ld ", i);
    memcpy(cdr + 8, digits, (size_t)k < text ? (size_t)k : text);
    if (rcl_publish_serialized_message(&pub, &msg, NULL) != RCL_RET_OK) {
      fprintf(stderr, "talker: publish %ld failed: %s\n", i, rcutils_get_error_string().str);
      return 3;
    }
    if (rate > 0) {
      uint64_t due = start + (uint64_t)((double)(i + 1) * 1e9 / rate);
      uint64_t now = mono_ns();
      if (due > now) {
        struct timespec wait = {(time_t)((due - now) / 1000000000ull),
          (long)((due - now) % 1000000000ull)};
        nanosleep(&wait, NULL);
      }
    }
  }
  struct timespec linger = {0, 500000000};
  nanosleep(&linger, NULL);
  printf("talker: done\n");
  fflush(stdout);
  (void)rcl_publisher_fini(&pub, &node);
  (void)rcl_node_fini(&node);
  (void)rcl_shutdown(&context);
  return 0;
}
