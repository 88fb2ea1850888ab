package dev.dsv2.benchmarks;

import dev.dsv2.tokenizer.HfTokenizer;
import dev.dsv2.tokenizer.StreamingDetokenizer;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Encode/decode throughput of the gateway's {@link HfTokenizer} on a few MB of mixed text (English prose, code with
 * tabs and spaces, Chinese, Japanese, Korean, emoji, JSON, numbers), cut into ~2 KB documents as a gateway sees them.
 * Prints MB/s (UTF-8 input bytes) and tokens/s on one thread and on several threads sharing one tokenizer, after a
 * warm-up pass. A plain program (whole-corpus throughput), not a JMH benchmark; not run by the tests.
 *
 * <pre>
 *   ./mvnw -pl benchmarks -am package -DskipTests
 *   java -cp benchmarks/target/benchmarks.jar dev.dsv2.benchmarks.TokenizerBenchmark \
 *       TOKENIZER_DIR_OR_FILE [MEGABYTES=4] [THREADS=cores]
 * </pre>
 */
public final class TokenizerBenchmark {
    private static final String[] SAMPLES = {
        "The quick brown fox jumps over the lazy dog. It wasn't the first time, and it won't be the last; "
                + "foxes (as everyone knows) are persistent creatures.\n\n",
        "In 2024, the model processed 1,234,567 requests at 99.95% availability, averaging 42.7 ms per call.\n",
        "def fibonacci(n: int) -> list[int]:\n    \"\"\"Return the first n Fibonacci numbers.\"\"\"\n    a, b = 0, 1\n"
                + "    out = []\n    for _ in range(n):\n\tout.append(a)\n        a, b = b, a + b\n    return out\n\n",
        "public final class Cache<K, V> {\n    private final Map<K, V> map = new ConcurrentHashMap<>();\n"
                + "\tpublic V get(K key) { return map.get(key); }\n}\n",
        "深度求索（DeepSeek）致力于探索通用人工智能的本质，以好奇心驱动长期主义的基础研究。",
        "東京は日本の首都であり、世界有数の大都市です。ひらがなとカタカナと漢字を使います。",
        "자연어 처리는 인공지능의 중요한 분야입니다. 토크나이저는 텍스트를 토큰으로 나눕니다.",
        "Great job! 🎉🚀 Family: 👨‍👩‍👧‍👦, thumbs: 👍🏽, flags: 🇫🇷🇯🇵 ❤️\n",
        "{\"id\": \"req-7f3a\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello?\"}], \"temperature\": 0.7}\n",
        "Привет, мир! Это тестовый текст на русском языке для проверки токенизатора.\n",
    };

    private TokenizerBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: TokenizerBenchmark TOKENIZER_DIR_OR_FILE [MEGABYTES=4] [THREADS=cores]");
            System.exit(2);
        }
        int megabytes = args.length > 1 ? Integer.parseInt(args[1]) : 4;
        int threads = args.length > 2 ? Integer.parseInt(args[2]) : Runtime.getRuntime().availableProcessors();

        long t0 = System.nanoTime();
        HfTokenizer tokenizer = HfTokenizer.load(Path.of(args[0]));
        System.out.printf(Locale.ROOT, "load: %.0f ms (%s, vocab %d)%n", (System.nanoTime() - t0) / 1e6, args[0],
                tokenizer.vocabSize());

        List<String> documents = corpus(megabytes * 1_000_000L, new Random(7));
        long bytes = documents.stream().mapToLong(d -> d.getBytes(StandardCharsets.UTF_8).length).sum();
        System.out.printf(Locale.ROOT, "corpus: %d documents, %.2f MB UTF-8%n", documents.size(), bytes / 1e6);

        encodeAll(tokenizer, documents); // warm-up: JIT and the word cache
        for (int run = 0; run < 2; run++) {
            long start = System.nanoTime();
            long tokens = encodeAll(tokenizer, documents);
            report("encode, 1 thread", bytes, tokens, System.nanoTime() - start);
        }
        if (threads > 1) {
            try (ExecutorService pool = Executors.newFixedThreadPool(threads)) {
                long start = System.nanoTime();
                List<Future<Long>> parts = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    parts.add(pool.submit(() -> encodeAll(tokenizer, documents)));
                }
                long tokens = 0;
                for (Future<Long> f : parts) {
                    tokens += f.get();
                }
                report("encode, " + threads + " threads", bytes * threads, tokens, System.nanoTime() - start);
            }
        }
        List<int[]> encoded = documents.stream().map(tokenizer::encode).toList();
        long start = System.nanoTime();
        long tokens = 0;
        for (int[] ids : encoded) {
            tokenizer.decode(ids, false);
            tokens += ids.length;
        }
        report("decode, 1 thread", bytes, tokens, System.nanoTime() - start);
        start = System.nanoTime();
        for (int[] ids : encoded) {
            StreamingDetokenizer detokenizer = tokenizer.newStreamingDetokenizer(false);
            for (int id : ids) {
                detokenizer.accept(id);
            }
            detokenizer.finish();
        }
        report("streaming detokenize, 1 thread", bytes, tokens, System.nanoTime() - start);
    }

    private static long encodeAll(HfTokenizer tokenizer, List<String> documents) {
        long tokens = 0;
        for (String d : documents) {
            tokens += tokenizer.encode(d).length;
        }
        return tokens;
    }

    private static void report(String what, long bytes, long tokens, long nanos) {
        double seconds = nanos / 1e9;
        System.out.printf(Locale.ROOT, "%-32s %8.2f MB/s %12.0f tokens/s  (%d tokens in %.3f s)%n", what,
                bytes / 1e6 / seconds, tokens / seconds, tokens, seconds);
    }

    /** ~2 KB documents of shuffled samples with random numbers and made-up words, about {@code total} bytes. */
    private static List<String> corpus(long total, Random random) {
        List<String> documents = new ArrayList<>();
        long size = 0;
        while (size < total) {
            StringBuilder doc = new StringBuilder();
            while (doc.length() < 2000) {
                doc.append(SAMPLES[random.nextInt(SAMPLES.length)]);
                doc.append(random.nextInt(100_000)).append(' ');
                for (int i = random.nextInt(4); i > 0; i--) {
                    doc.append(madeUpWord(random)).append(random.nextBoolean() ? " " : ", ");
                }
            }
            String d = doc.toString();
            documents.add(d);
            size += d.getBytes(StandardCharsets.UTF_8).length;
        }
        return documents;
    }

    private static String madeUpWord(Random random) {
        String syllables = "ka lo mi ne su ra ti vo de pa zu qui bre stro ght ion ing ed";
        String[] s = syllables.split(" ");
        StringBuilder w = new StringBuilder();
        for (int i = 1 + random.nextInt(4); i > 0; i--) {
            w.append(s[random.nextInt(s.length)]);
        }
        return w.toString();
    }
}
