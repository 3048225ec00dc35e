#!/usr/bin/env bash
# A real Apache Kafka 4.x broker (KRaft, single node) for tests and development, without Docker.
#   kafka-local.sh fetch              fetch the jars from Maven Central into the cache (once)
#   kafka-local.sh start DIR          format storage in DIR, start on a free 127.0.0.1 port,
#                                     wait until ready; prints the bootstrap address and writes
#                                     DIR/bootstrap, DIR/pid and DIR/kafka.log
#   kafka-local.sh stop DIR           stop the broker started in DIR
#   kafka-local.sh restart DIR        stop the broker started in DIR and start it again on the same
#                                     port with the same data and server.properties (a broker
#                                     restart for fault tests); prints the bootstrap address
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$HERE/pom.xml")"
CACHE="${LIFEBOAT_CACHE:-$HOME/.cache/lifeboat}/kafka-$KAFKA_VERSION"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

fetch() {
  if [[ -f "$CACHE/.complete" ]]; then return 0; fi
  if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
    if [[ $EUID -ne 0 ]]; then echo "kafka-local: Java 17+ and Maven are needed" >&2; exit 1; fi
    echo "kafka-local: installing Java 17 and Maven from Debian's packages" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless maven >/dev/null
  fi
  mkdir -p "$CACHE"
  echo "kafka-local: fetching Kafka $KAFKA_VERSION jars into $CACHE" >&2
  # Maven writes ANSI codes to stdout even with -q; only the bootstrap address may go to stdout
  mvn -q -B -Dstyle.color=never -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$CACHE/libs" >&2
  touch "$CACHE/.complete"
}

start() {
  local dir="$1"
  fetch
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local port cport
  port="$(free_port)"; cport="$(free_port)"
  while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
group.consumer.heartbeat.interval.ms=1000
group.consumer.min.heartbeat.interval.ms=500
group.consumer.session.timeout.ms=6000
group.consumer.min.session.timeout.ms=3000
group.classic.min.session.timeout.ms=3000
message.max.bytes=2097152
PROPS
  cat > "$dir/log4j2.yaml" <<'LOG'
Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
LOG
  local cluster_id
  cluster_id="$(jvm "$dir" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  jvm "$dir" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
    || { echo "kafka-local: storage format failed, see $dir/format.log" >&2; cat "$dir/format.log" >&2; exit 1; }
  echo "127.0.0.1:$port" > "$dir/bootstrap"
  launch "$dir"
  echo "127.0.0.1:$port"
}

jvm() {  # jvm DIR CLASS ARGS...: run a Kafka class with the broker's classpath and logging
  local dir="$1"; shift
  java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.yaml" -cp "$CACHE/libs/*" "$@"
}

# Start the broker formatted in DIR and wait until it serves. Its log is appended to, so only
# what this start wrote counts as "ready" (a restart must not see the previous start's line).
launch() {
  local dir="$1"
  local from=0
  [[ -f "$dir/kafka.log" ]] && from="$(stat -c %s "$dir/kafka.log")"
  setsid java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$dir/log4j2.yaml" -cp "$CACHE/libs/*" \
    kafka.Kafka "$dir/server.properties" >>"$dir/kafka.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  local deadline=$((SECONDS + 90))
  until tail -c +$((from + 1)) "$dir/kafka.log" 2>/dev/null \
      | grep -q "Kafka Server started\|Transition from STARTING to STARTED"; do
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      echo "kafka-local: broker exited during start-up; its log:" >&2; tail -50 "$dir/kafka.log" >&2; exit 1
    fi
    if (( SECONDS > deadline )); then
      echo "kafka-local: broker not ready after 90 s; its log:" >&2; tail -50 "$dir/kafka.log" >&2; stop "$dir"; exit 1
    fi
    sleep 0.3
  done
}

restart() {
  local dir="$1"
  [[ -f "$dir/server.properties" && -f "$dir/bootstrap" ]] \
    || { echo "kafka-local: no broker was started in $dir" >&2; exit 1; }
  dir="$(cd "$dir" && pwd)"
  fetch
  stop "$dir"
  launch "$dir"
  cat "$dir/bootstrap"
}

stop() {
  local dir="$1"
  [[ -f "$dir/pid" ]] || return 0
  local pid; pid="$(cat "$dir/pid")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
}

case "${1:-}" in
  fetch) fetch ;;
  start) start "${2:?usage: kafka-local.sh start DIR}" ;;
  stop) stop "${2:?usage: kafka-local.sh stop DIR}" ;;
  restart) restart "${2:?usage: kafka-local.sh restart DIR}" ;;
  *) echo "usage: kafka-local.sh fetch|start DIR|stop DIR|restart DIR" >&2; exit 2 ;;
esac
