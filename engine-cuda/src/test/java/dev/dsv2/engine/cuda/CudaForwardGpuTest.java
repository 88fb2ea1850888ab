package dev.dsv2.engine.cuda;

import dev.dsv2.engine.cache.LatentKvCache;
import dev.dsv2.engine.checkpoint.ModelPresets;
import dev.dsv2.engine.checkpoint.RandomCheckpointWriter;
import dev.dsv2.engine.device.CudaProbe;
import dev.dsv2.engine.device.ModelParityProbe;
import dev.dsv2.engine.generate.GenerationResult;
import dev.dsv2.engine.generate.Generator;
import dev.dsv2.engine.generate.TokenListener;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.kernel.cpu.VectorBackend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.sample.FinishReason;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;
import dev.dsv2.engine.serve.BatchScheduler;
import dev.dsv2.engine.serve.ErrorKind;
import dev.dsv2.engine.serve.GenerationListener;
import dev.dsv2.engine.serve.MicroBatches;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * On a GPU: the model on the {@link CudaBackend} against the CPU backend. Greedy ids identical over 16 steps and
 * top-5 logprobs within 2e-3 on tiny, tiny-v2 and lite-layers:2; 64 concurrent sequences of mixed lengths through the
 * batch scheduler (paged latent cache in device memory) give the tokens the CPU gives. Skipped without a CUDA device.
 */
class CudaForwardGpuTest {
    private static final int STEPS = 16;

    private static CudaBackend openDevice() {
        CudaProbe p = new JCudaSupport().probe();
        assumeTrue(p.available(), () -> "no CUDA device: " + p.unavailable());
        return CudaBackend.open(p.devices().getFirst());
    }

    private static GenerationResult greedy(Path dir, Backend be, int[] prompt) {
        try (DeepseekV2Model m = DeepseekV2Model.load(dir, be, WeightFormat.BF16, s -> { })) {
            LatentKvCache cache = LatentKvCache.forTokens(m.config(), 256, be);
            try {
                SamplingParams params = SamplingParams.greedy(STEPS).toBuilder().ignoreEos(true)
                        .logprobs(ModelParityProbe.TOP).build();
                return new Generator(m, cache).generate(prompt, params, null, TokenListener.NONE);
            } finally {
                cache.close();
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"tiny", "tiny-v2", "lite-layers:2"})
    void greedyIdsAndTopLogprobsMatchTheCpu(String preset, @TempDir Path dir) {
        try (CudaBackend gpu = openDevice(); VectorBackend cpu = new VectorBackend(2)) {
            RandomCheckpointWriter.write(ModelPresets.preset(preset), dir, 1, s -> { });
            int[] prompt = {0, 5, 9, 17, 33, 65, 129, 257, 3, 4, 11, 600};
            GenerationResult want = greedy(dir, cpu, prompt);
            GenerationResult got = greedy(dir, gpu, prompt);
            System.out.println(preset + ": cpu " + java.util.Arrays.toString(want.outputIds()) + ", gpu "
                    + java.util.Arrays.toString(got.outputIds()));
            assertNull(ModelParityProbe.compare(want, got, gpu.name()));
        }
    }

    /** Collects one request's ids. */
    private static final class Ids implements GenerationListener {
        final List<Integer> ids = new ArrayList<>();
        final CompletableFuture<FinishReason> done = new CompletableFuture<>();

        @Override
        public synchronized void onToken(int tokenId, float logprob, TopLogprobs top) {
            ids.add(tokenId);
        }

        @Override
        public void onComplete(FinishReason reason, int promptTokens, int completionTokens) {
            done.complete(reason);
        }

        @Override
        public void onError(ErrorKind kind, String message) {
            done.completeExceptionally(new IllegalStateException(kind + ": " + message));
        }
    }

    private static List<List<Integer>> serve(Path dir, Backend be, int n) throws Exception {
        try (DeepseekV2Model m = DeepseekV2Model.load(dir, be, WeightFormat.BF16, s -> { })) {
            LatentKvCache cache = LatentKvCache.forTokens(m.config(), 16384, be);
            List<Ids> out = new ArrayList<>();
            try (BatchScheduler s = new BatchScheduler(m, cache,
                    new BatchScheduler.Config(512, 64, 128, 1024, MicroBatches.ONE))) {
                for (int i = 0; i < n; i++) {
                    int len = 3 + (i * 37) % 120; // 3 .. 122 tokens: decode rows of mixed context lengths
                    int[] p = new int[len];
                    for (int j = 0; j < len; j++) {
                        p[j] = (i * 131 + j * 17) % m.config().vocabSize();
                    }
                    Ids c = new Ids();
                    out.add(c);
                    s.submit("r" + i, p, SamplingParams.greedy(8 + i % 9).toBuilder().ignoreEos(true).build(), c);
                }
                List<List<Integer>> ids = new ArrayList<>();
                for (Ids c : out) {
                    assertEquals(FinishReason.LENGTH, c.done.get(300, TimeUnit.SECONDS));
                    ids.add(c.ids);
                }
                return ids;
            } finally {
                cache.close();
            }
        }
    }

    @Test
    void sixtyFourConcurrentSequencesOfMixedLengthsGetTheCpusTokens(@TempDir Path dir) throws Exception {
        try (CudaBackend gpu = openDevice(); VectorBackend cpu = new VectorBackend(2)) {
            RandomCheckpointWriter.write(ModelPresets.preset("tiny"), dir, 1, s -> { });
            List<List<Integer>> want = serve(dir, cpu, 64);
            List<List<Integer>> got = serve(dir, gpu, 64);
            for (int i = 0; i < want.size(); i++) {
                assertEquals(want.get(i), got.get(i), "sequence " + i);
            }
        }
    }
}
