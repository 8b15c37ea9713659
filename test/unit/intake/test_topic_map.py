# Copyright 2026 UnityKernel contributors
#
# Licensed under the Apache License, Version 2.0 (the "License");
# you may not use this file except in compliance with the License.
# You may obtain a copy of the License at
#
#     http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS,
# WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
# See the License for the specific language governing permissions and
# limitations under the License.

"""Topic mapping plan and QoS adaptation (pure logic)."""

from unity_kernel_core.bus.events import Tier
from unity_kernel_core.config.kernel_config import parse_config, QosSettings
from unity_kernel_core.intake.topic_map import adapt_qos, kernel_want, plan_follow
from unity_kernel_core.intake.topic_map import PublisherQos, reconcile, SubscriptionPlan, Wanted

RELIABLE = PublisherQos('reliable', 'volatile')
BEST_EFFORT = PublisherQos('best_effort', 'volatile')
LATCHED = PublisherQos('reliable', 'transient_local')


def plan_subscriptions(config, topics, publishers):
    """Decide which topics the kernel takes in (plan_follow with the config's routes)."""
    return plan_follow(topics, publishers, kernel_want(config))


def test_reliable_request_becomes_best_effort_for_a_best_effort_publisher():
    qos, notes = adapt_qos(QosSettings(reliability='reliable'), [RELIABLE, BEST_EFFORT])
    assert qos.reliability == 'best_effort' and notes


def test_reliable_publishers_keep_a_reliable_subscription():
    qos, notes = adapt_qos(QosSettings(reliability='reliable'), [RELIABLE, LATCHED])
    assert qos.reliability == 'reliable' and not notes


def test_transient_local_request_is_lowered_for_a_volatile_publisher():
    qos, _ = adapt_qos(QosSettings(durability='transient_local'), [LATCHED, RELIABLE])
    assert qos.durability == 'volatile'
    qos, _ = adapt_qos(QosSettings(durability='transient_local'), [LATCHED])
    assert qos.durability == 'transient_local'


def test_deadline_is_dropped_when_a_publisher_cannot_meet_it():
    qos, notes = adapt_qos(QosSettings(deadline_ms=100), [RELIABLE])
    assert qos.deadline_ms is None and 'deadline' in notes[0]
    fast = PublisherQos('reliable', 'volatile', deadline_ms=50)
    qos, _ = adapt_qos(QosSettings(deadline_ms=100), [fast])
    assert qos.deadline_ms == 100


def test_adaptation_can_be_switched_off():
    qos, notes = adapt_qos(QosSettings(adapt_to_publishers=False), [BEST_EFFORT])
    assert qos.reliability == 'reliable' and not notes


def test_plan_maps_tiers_skips_excluded_and_reports_conflicting_types():
    config = parse_config('')
    topics = [('/safety/estop', ['std_msgs/msg/Bool']),
              ('/sensors/imu', ['sensor_msgs/msg/Imu']),
              ('/chatter', ['std_msgs/msg/String']),
              ('/rosout', ['rcl_interfaces/msg/Log']),
              ('/mixed', ['std_msgs/msg/String', 'std_msgs/msg/Int32']),
              ('/no_publishers', ['std_msgs/msg/String'])]
    pubs = {t: [RELIABLE] for t, _ in topics if t != '/no_publishers'}
    pubs['/sensors/imu'] = [BEST_EFFORT]
    plans, skipped = plan_subscriptions(config, topics, pubs)
    by_topic = {p.topic: p for p in plans}
    assert set(by_topic) == {'/safety/estop', '/sensors/imu', '/chatter'}
    assert by_topic['/safety/estop'].tier is Tier.CRITICAL
    assert by_topic['/safety/estop'].qos.reliability == 'reliable'
    assert by_topic['/sensors/imu'].tier is Tier.HIGH
    assert by_topic['/sensors/imu'].qos.reliability == 'best_effort'
    assert [s.topic for s in skipped] == ['/mixed']
    assert '2 types on one topic' in skipped[0].reason


def test_a_follower_of_its_own_choosing_plans_with_the_same_qos_adaptation():
    """The LLM bridge's question: routed topics at depth 10, whatever the kernel maps."""
    def want(topic):
        return Wanted(QosSettings(depth=10)) if topic.startswith('/llm/') else None

    topics = [('/llm/chat', ['std_msgs/msg/String']), ('/other', ['std_msgs/msg/String']),
              ('/llm/two', ['a/msg/A', 'b/msg/B']), ('/llm/quiet', ['std_msgs/msg/String'])]
    plans, skipped = plan_follow(topics, {'/llm/chat': [BEST_EFFORT], '/other': [RELIABLE]},
                                 want)
    assert [(p.topic, p.qos.reliability, p.qos.depth) for p in plans] == [
        ('/llm/chat', 'best_effort', 10)]
    assert [s.topic for s in skipped] == ['/llm/two']  # /llm/quiet: no publisher yet


def test_reconcile_drops_the_unwanted_replans_the_changed_and_keeps_the_quiet():
    def plan(topic, tier=Tier.NORMAL, type_name='std_msgs/msg/String'):
        return SubscriptionPlan(topic, type_name, tier, QosSettings())

    current = {'/gone': plan('/gone'), '/quiet': plan('/quiet'), '/same': plan('/same'),
               '/retiered': plan('/retiered')}
    wanted = {'/quiet', '/same', '/retiered', '/new'}

    def want(topic):
        return Wanted(QosSettings()) if topic in wanted else None

    drops, adds = reconcile(current, [plan('/same'), plan('/retiered', Tier.HIGH),
                                      plan('/new')], want)
    assert drops == [('/gone', 'no longer wanted'), ('/retiered', 'plan changed')]
    assert [(p.topic, p.tier) for p in adds] == [('/retiered', Tier.HIGH),
                                                 ('/new', Tier.NORMAL)]
