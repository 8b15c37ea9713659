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
 * The mirror benchmark's reference in C: `xadd PORT COUNT BATCH CDR_BYTES` sends COUNT
 * XADDs of the mirror's six fields (topic, type, tier, seq, stamp_ns, cdr) to bench:raw on
 * 127.0.0.1:PORT, pipelined BATCH at a time with hiredis, waiting for each batch's replies
 * (as the writer does), and prints {"events_per_s": ..., "seconds": ...}.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char ** argv)
{
  if (argc < 5) {
    fprintf(stderr, "usage: xadd PORT COUNT BATCH CDR_BYTES\n");
    return 2;
  }
  redisContext * c = redisConnect("127.0.0.1", atoi(argv[1]));
  if (c == NULL || c->err) {
    fprintf(stderr, "xadd: cannot connect: %s\n", c ? c->errstr : "no memory");
    return 1;
  }
  long count = atol(argv[2]), batch = atol(argv[3]);
  size_t cdr_len = (size_t)atol(argv[4]);
  char * cdr = malloc(cdr_len + 1);
  memset(cdr, 'c', cdr_len);
  char seq[24], stamp[24];
  const char * args[15] = {"XADD", "bench:raw", "*", "topic", "/bench/raw", "type",
    "std_msgs/msg/String", "tier", "NORMAL", "seq", seq, "stamp_ns", stamp, "cdr", cdr};
  size_t lens[15];
  double start = now_s();
  for (long first = 0; first < count; first += batch) {
    long n = count - first < batch ? count - first : batch;
    for (long i = 0; i < n; i++) {
      snprintf(seq, sizeof(seq), "%ld", first + i);
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      snprintf(stamp, sizeof(stamp), "%lld",
        (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
      for (int k = 0; k < 15; k++) {
        lens[k] = k == 14 ? cdr_len : strlen(args[k]);
      }
      redisAppendCommandArgv(c, 15, args, lens);
    }
    for (long i = 0; i < n; i++) {
      redisReply * reply;
      if (redisGetReply(c, (void **)&reply) != REDIS_OK) {
        fprintf(stderr, "xadd: %s\n", c->errstr);
        return 1;
      }
      if (reply->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "xadd: %s\n", reply->str);
        return 1;
      }
      freeReplyObject(reply);
    }
  }
  double seconds = now_s() - start;
  printf("{\"events_per_s\": %.1f, \"seconds\": %.4f}\n", (double)count / seconds, seconds);
  redisFree(c);
  return 0;
}
