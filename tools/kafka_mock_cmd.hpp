// capi kafka-mock: librdkafka's mock Kafka cluster as a process, so tests, users
// and any Kafka client (kcat, a Java producer) get a Kafka-protocol endpoint on
// 127.0.0.1 without a broker installed. docs/cli.md describes every option, the
// control lines read on stdin and the exit statuses.
#pragma once

/// Exit status of `capi kafka-mock`.
enum KafkaMockExit : int {
    kafka_mock_ok = 0,     ///< stopped by SIGINT/SIGTERM
    kafka_mock_usage = 2,  ///< usage error, or the cluster or a topic could not be created
};

/// argv[0] is the program, argv[1] "kafka-mock". Prints the bootstrap servers as
/// the first line of stdout (flushed) once the topics exist, then answers control
/// lines on stdin (one answer line each on stdout) until SIGINT or SIGTERM. The end
/// of stdin does not stop it.
int run_kafka_mock(int argc, char** argv);
