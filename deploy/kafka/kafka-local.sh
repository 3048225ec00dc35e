#!/usr/bin/env bash
# A real Apache Kafka 4.x broker (KRaft, single node) for tests and development, without Docker.
#   kafka-local.sh fetch              fetch the jars from Maven Central into the cache (once)
#   kafka-local.sh start DIR          format storage in DIR, start on a free 127.0.0.1 port,
#                                     wait until ready; prints the bootstrap address and writes
#                                     DIR/bootstrap, DIR/pid and DIR/kafka.log
#   kafka-local.sh start DIR sasl_ssl same, but the client listener is SASL_SSL with SCRAM-SHA-512
#                                     over TLS: a CA and broker certificate are generated in DIR,
#                                     user "lifeboat" is created at format (password from
#                                     $KAFKA_LOCAL_SASL_PASSWORD, else random); the client settings
#                                     (LIFEBOAT_KAFKA_* lines: protocol, mechanism, user, password,
#                                     CA file) go to DIR/client.env (0600), the CA to DIR/ca.crt
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

# TLS material for the sasl_ssl mode: a self-signed CA and a broker certificate for 127.0.0.1,
# in a PKCS#12 keystore (the password is random and stays in DIR/server.properties).
make_tls() {
  local dir="$1" storepass="$2"
  ( cd "$dir" && umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=kafka-local test CA" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' > broker.ext
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
      -extfile broker.ext -out broker.crt 2>/dev/null
    openssl pkcs12 -export -in broker.crt -inkey broker.key -certfile ca.crt -name broker \
      -out broker.p12 -passout "pass:$storepass"
    rm -f broker.csr broker.ext ca.srl ca.key broker.key
    chmod 644 ca.crt )
}

start() {
  local dir="$1" security="${2:-plaintext}"
  [[ "$security" == plaintext || "$security" == sasl_ssl ]] \
    || { echo "kafka-local: unknown security mode $security (plaintext|sasl_ssl)" >&2; exit 2; }
  fetch
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  local port cport
  port="$(free_port)"; cport="$(free_port)"
  while [[ "$cport" == "$port" ]]; do cport="$(free_port)"; done
  local listener=PLAINTEXT extra="" scram=()
  if [[ "$security" == sasl_ssl ]]; then
    listener=SASL_SSL
    local storepass user=lifeboat password
    storepass="$(openssl rand -hex 16)"
    password="${KAFKA_LOCAL_SASL_PASSWORD:-$(openssl rand -hex 16)}"
    make_tls "$dir" "$storepass"
    extra="sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username=\"$user\" password=\"$password\";
ssl.keystore.type=PKCS12
ssl.keystore.location=$dir/broker.p12
ssl.keystore.password=$storepass
ssl.truststore.type=PEM
ssl.truststore.location=$dir/ca.crt
ssl.endpoint.identification.algorithm=https"
    scram=(--add-scram "SCRAM-SHA-512=[name=$user,password=$password]")
    ( umask 077; cat > "$dir/client.env" <<ENV
LIFEBOAT_KAFKA_SECURITY_PROTOCOL=SASL_SSL
LIFEBOAT_KAFKA_SASL_MECHANISM=SCRAM-SHA-512
LIFEBOAT_KAFKA_SASL_USERNAME=$user
LIFEBOAT_KAFKA_SASL_PASSWORD=$password
LIFEBOAT_KAFKA_SSL_CAFILE=$dir/ca.crt
ENV
    )
  fi
  ( umask 077; cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listener://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=$listener://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=$listener
listener.security.protocol.map=CONTROLLER:PLAINTEXT,$listener:$listener
$extra
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
  )
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
  jvm "$dir" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" "${scram[@]}" >"$dir/format.log" 2>&1 \
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
  start) start "${2:?usage: kafka-local.sh start DIR [plaintext|sasl_ssl]}" "${3:-plaintext}" ;;
  stop) stop "${2:?usage: kafka-local.sh stop DIR}" ;;
  restart) restart "${2:?usage: kafka-local.sh restart DIR}" ;;
  *) echo "usage: kafka-local.sh fetch|start DIR [plaintext|sasl_ssl]|stop DIR|restart DIR" >&2; exit 2 ;;
esac
