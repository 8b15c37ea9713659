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
 * What the _core module offers other C code (the rcl intake, _rcl), through a capsule:
 * the producer (sequence numbers, entry IDs, the ring) and the per-tier hand-off queues.
 *
 * Every function here is called without the GIL.
 */

#ifndef UNITY_KERNEL_NATIVE_UK_CORE_H_
#define UNITY_KERNEL_NATIVE_UK_CORE_H_

#include <Python.h>
#include <pthread.h>
#include <stdint.h>

#include "uk_ring.h"

#define UK_CORE_API_VERSION 1
#define UK_CORE_CAPSULE "unity_kernel_core.native._core._C_API"

/* Counters of the native intake threads' records, by tier where it says so. */
typedef struct
{
  uint64_t records;             /* records written into the ring */
  uint64_t ring_full[UK_TIERS];  /* not written: the ring had no room (not CRITICAL) */
  uint64_t too_large[UK_TIERS];  /* not written: larger than the ring */
  uint64_t critical_waits;      /* a CRITICAL record waited for room */
  uint64_t one_copy;            /* taken straight into the ring */
  uint64_t two_copies;          /* taken elsewhere, then copied into the ring */
} uk_producer_stats_t;

/* The kernel's sequencer and the ring's producer: one mutex for both (see _core.c). */
typedef struct
{
  pthread_mutex_t mu;       /* recursive: the bus holds it around its taps */
  pthread_t owner;
  int depth;
  uint64_t seq;             /* the last sequence number issued */
  uint64_t id_ms, id_seq;   /* the entry ID clock's last ID */
  uk_ring_t ring;
  int attached;
  uint64_t head;            /* the producer's head (published with each record) */
  volatile int stopping;    /* CRITICAL waits for room give up */
  uk_producer_stats_t stats;
} uk_producer_t;

/* One message handed to the interpreter. */
typedef struct uk_item
{
  struct uk_item * next;
  uint32_t sub;
  uint64_t seq, stamp_ns, mono_ns;
  uint32_t len;
  uint8_t data[];
} uk_item_t;

#define UK_POLICY_BLOCK 0
#define UK_POLICY_DROP_OLDEST 1
#define UK_POLICY_DROP_NEWEST 2

/* A bounded queue of items for one tier, filled by native threads, emptied by Python. */
typedef struct
{
  pthread_mutex_t mu;
  pthread_cond_t nonempty, nonfull;
  uk_item_t * first, * last;
  uint64_t n, bytes, max_n, max_bytes;
  int policy;
  int64_t block_timeout_ns;  /* < 0: wait as long as it takes (until closed) */
  int waiting;               /* the consumer waits on nonempty */
  int closed;
  uint64_t pushed, dropped, taken, blocked;
} uk_handoff_t;

typedef struct
{
  int version;
  /* the producer inside a _core.Producer object (NULL and an exception otherwise) */
  uk_producer_t * (*producer_of)(PyObject * obj);
  /* the hand-off inside a _core.Handoff object (NULL and an exception otherwise) */
  uk_handoff_t * (*handoff_of)(PyObject * obj);
  void (*lock)(uk_producer_t * p);
  void (*unlock)(uk_producer_t * p);
  /* with the lock held: the next sequence number, and the entry ID for it */
  uint64_t (*next_seq)(uk_producer_t * p);
  void (*issue_id)(uk_producer_t * p, uint64_t stamp_ns, uint64_t seq, uint64_t * ms,
    uint64_t * id_seq);
  /* hand one message over: the item (malloc'd, filled) becomes the queue's; returns 1
   * queued, 0 dropped (counted; the item freed). May wait (a full BLOCK tier). */
  int (*handoff_enqueue)(uk_handoff_t * h, uk_item_t * item);
} uk_core_api_t;

#endif  /* UNITY_KERNEL_NATIVE_UK_CORE_H_ */
