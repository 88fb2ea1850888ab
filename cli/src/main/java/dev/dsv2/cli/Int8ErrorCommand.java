package dev.dsv2.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.dsv2.engine.kernel.Backend;
import dev.dsv2.engine.model.DeepseekV2Model;
import dev.dsv2.engine.model.WeightFormat;
import dev.dsv2.engine.quant.Int8Agreement;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * {@code ./dsv2 int8-error --model DIR [--steps 64] [--prompts 4] [--json]}: the int8 path's error against the bf16
 * path on the same checkpoint ({@link Int8Agreement}), over a few random prompts; the figures of docs/int8.md.
 */
@Command(name = "int8-error", mixinStandardHelpOptions = true,
        description = "Compare --weights int8 with bf16 on one checkpoint: greedy agreement over N steps and the "
                + "largest |delta| of the top-5 logprobs (teacher-forced on the bf16 continuation).")
public final class Int8ErrorCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, paramLabel = "DIR", description = "A bf16 checkpoint directory.")
    Path model;

    @Option(names = "--steps", defaultValue = "64", description = "Greedy steps per prompt (default ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--prompts", defaultValue = "4", description = "Random prompts of 8 tokens (default ${DEFAULT-VALUE}).")
    int prompts;

    @Option(names = "--seed", defaultValue = "1", description = "Seed of the prompts (default ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--json", description = "Print one JSON object.")
    boolean json;

    @Mixin
    CpuKernelsOption cpuKernels;

    @Override
    public Integer call() throws Exception {
        if (steps < 1 || prompts < 1) {
            throw new IllegalArgumentException("--steps and --prompts must be >= 1, got " + steps + " and " + prompts);
        }
        try (Backend backend = cpuKernels.settings().createBackend();
             DeepseekV2Model bf16 = DeepseekV2Model.load(model, backend, WeightFormat.BF16, null);
             DeepseekV2Model int8 = DeepseekV2Model.load(model, backend, WeightFormat.INT8, null)) {
            if (bf16.weightFormat() != WeightFormat.BF16) {
                throw new IllegalArgumentException(model + " is an int8 checkpoint; compare on its bf16 original");
            }
            SplittableRandom rnd = new SplittableRandom(seed);
            int vocab = bf16.config().vocabSize();
            int free = 0;
            int agreed = 0;
            double maxDelta = 0;
            List<Map<String, Object>> rows = new java.util.ArrayList<>();
            for (int p = 0; p < prompts; p++) {
                int[] prompt = rnd.ints(8, 0, vocab).toArray();
                Int8Agreement a = Int8Agreement.measure(bf16, int8, prompt, steps);
                free += a.freeRunAgreedSteps();
                agreed += a.argmaxAgreedSteps();
                maxDelta = Math.max(maxDelta, a.maxTop5LogprobDelta());
                Map<String, Object> r = new LinkedHashMap<>();
                r.put("prompt_ids", prompt);
                r.put("free_run_agreed_steps", a.freeRunAgreedSteps());
                r.put("teacher_forced_argmax_agreed_steps", a.argmaxAgreedSteps());
                r.put("max_abs_delta_top5_logprob", a.maxTop5LogprobDelta());
                rows.add(r);
                if (!json) {
                    System.out.printf("prompt %d: free-run greedy agreed %d/%d steps, teacher-forced argmax %d/%d, "
                                    + "max |delta top-5 logprob| %.4f%n", p, a.freeRunAgreedSteps(), steps,
                            a.argmaxAgreedSteps(), steps, a.maxTop5LogprobDelta());
                }
            }
            Map<String, Object> o = new LinkedHashMap<>();
            o.put("model", model.toString());
            o.put("steps", steps);
            o.put("prompts", rows);
            o.put("free_run_agreement", (double) free / (prompts * steps));
            o.put("teacher_forced_argmax_agreement", (double) agreed / (prompts * steps));
            o.put("max_abs_delta_top5_logprob", maxDelta);
            if (json) {
                System.out.println(new ObjectMapper().writeValueAsString(o));
            } else {
                System.out.printf("all: free-run greedy agreement %.3f, teacher-forced argmax agreement %.3f, "
                                + "max |delta top-5 logprob| %.4f%n", (double) free / (prompts * steps),
                        (double) agreed / (prompts * steps), maxDelta);
            }
        }
        return 0;
    }
}
