package dev.dsv2.engine.cuda;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.device.SelfCheckReport.KernelResult;
import dev.dsv2.engine.kernel.cpu.HostBackend;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.model.MoeGate;
import dev.dsv2.engine.sample.Logprobs;
import dev.dsv2.engine.sample.Sampler;
import dev.dsv2.engine.sample.SamplingParams;
import dev.dsv2.engine.sample.TopLogprobs;

import java.util.SplittableRandom;

import static dev.dsv2.engine.cuda.KernelSelfCheck.TOL_F32;
import static dev.dsv2.engine.cuda.KernelSelfCheck.TOL_GATE;
import static dev.dsv2.engine.cuda.KernelSelfCheck.TOL_LOGPROB;
import static dev.dsv2.engine.cuda.KernelSelfCheck.result;

/**
 * The self-check's attention, routing and sampling kernels (see {@link KernelSelfCheck} for the tolerances): absorbed
 * MLA decode over shuffled paged blocks against {@link HostBackend#pagedAttention}, prefill causal attention against
 * {@link HostBackend#causalAttention}, the gate against {@link MoeGate#route}, argmax / top-k logprobs / top-k draws
 * against {@link Sampler} and {@link Logprobs}.
 */
final class AttentionAndSamplingChecks {
    private final ModelConfig c;
    private final HostBackend cpu;
    private final long seed;

    AttentionAndSamplingChecks(ModelConfig c, HostBackend cpu, long seed) {
        this.c = c;
        this.cpu = cpu;
        this.seed = seed;
    }

    KernelResult mlaDecode(CudaContext cx, CudaKernels k) {
        int h = c.numAttentionHeads(), dk = c.latentCacheDim(), dv = c.kvLoraRank(), block = 64;
        int[] lens = {1, 64, 200, 1111};
        int n = lens.length;
        int maxBlocks = 0;
        int totalBlocks = 0;
        for (int len : lens) {
            maxBlocks = Math.max(maxBlocks, (len + block - 1) / block);
            totalBlocks += (len + block - 1) / block;
        }
        try (CheckInputs in = new CheckInputs(seed + 6)) {
            int[] perm = new int[totalBlocks];
            for (int i = 0; i < totalBlocks; i++) {
                perm[i] = i;
            }
            for (int i = totalBlocks - 1; i > 0; i--) {
                int j = in.random().nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            int[] tables = new int[n * maxBlocks];
            int next = 0;
            for (int b = 0; b < n; b++) {
                for (int i = 0; i < (lens[b] + block - 1) / block; i++) {
                    tables[b * maxBlocks + i] = perm[next++];
                }
            }
            float[] cache = in.gaussian(totalBlocks * block * dk, 1.0);
            float[] q = in.gaussian(n * h * dk, 1.0);
            float scale = (float) c.softmaxScale();
            float[] want = new float[n * h * dv];
            for (int b = 0; b < n; b++) {
                int[] offs = new int[lens[b]];
                for (int t = 0; t < lens[b]; t++) {
                    offs[t] = (tables[b * maxBlocks + t / block] * block + t % block) * dk;
                }
                cpu.pagedAttention(q, b * h * dk, dk, h, dk, cache, offs, 0, lens[b], dv, scale, want, b * h * dv, dv);
            }
            int chunk = 256;
            int splits = (1111 + chunk - 1) / chunk;
            DeviceBuffer out = in.zeros((long) n * h * dv);
            k.mlaDecode(in.up(q), h * dk, dk, in.up(cache), in.up(tables), maxBlocks, in.up(lens), block, dk, dv, h,
                    scale, n, splits, chunk, in.zeros((long) n * h * splits * dv), in.zeros((long) n * h * splits),
                    in.zeros((long) n * h * splits), out, h * dv, dv);
            cx.synchronize();
            return result("mla_decode_partial + mla_decode_combine", "lengths 1, 64, 200, 1111; " + h + " heads; "
                    + splits + " splits of " + chunk, CheckInputs.relativeToRms(out.floats(n * h * dv), want,
                    n * h * dv), TOL_F32, "max |gpu - cpu| / rms(cpu) of Backend.pagedAttention over shuffled blocks");
        }
    }

    KernelResult prefill(CudaContext cx, CudaKernels k) {
        int h = c.numAttentionHeads(), dk = c.qHeadDim(), dv = c.vHeadDim(), nq = 96, nk = 160, offset = nk - nq;
        try (CheckInputs in = new CheckInputs(seed + 7)) {
            float[] q = in.gaussian(nq * h * dk, 1.0);
            float[] kk = in.gaussian(nk * h * dk, 1.0);
            float[] v = in.gaussian(nk * h * dv, 1.0);
            float scale = (float) c.softmaxScale();
            float[] want = new float[nq * h * dv];
            float[] kT = new float[dk * nk];
            for (int hh = 0; hh < h; hh++) {
                for (int t = 0; t < nk; t++) {
                    for (int d = 0; d < dk; d++) {
                        kT[d * nk + t] = kk[(t * h + hh) * dk + d];
                    }
                }
                cpu.causalAttention(q, hh * dk, h * dk, nq, dk, kT, 0, nk, nk, v, hh * dv, h * dv, dv, offset, scale,
                        want, hh * dv, h * dv);
            }
            DeviceBuffer out = in.zeros((long) nq * h * dv);
            k.prefillAttention(in.up(q), h * dk, dk, in.up(kk), h * dk, dk, in.up(v), h * dv, dv, nq, nk, dk, dv,
                    offset, scale, out, h * dv, dv, h);
            cx.synchronize();
            return result("prefill_attention_f32", nq + " queries over " + nk + " keys (causal offset " + offset
                    + "), " + h + " heads", CheckInputs.relativeToRms(out.floats(nq * h * dv), want, nq * h * dv),
                    TOL_F32, "max |gpu - cpu| / rms(cpu) of Backend.causalAttention");
        }
    }

    KernelResult gate(CudaContext cx, CudaKernels k) {
        int d = c.hiddenSize(), e = c.nRoutedExperts(), topK = c.numExpertsPerTok(), rows = 16;
        if (e == 0) {
            return result("moe_gate_topk", "dense model", 0, TOL_GATE, "no routed experts: nothing to check");
        }
        try (CheckInputs in = new CheckInputs(seed + 8)) {
            Weight w = in.weight("gate", e, d);
            float[] x = in.gaussian(rows * d, 1.0);
            int[] wantIds = new int[rows * topK];
            float[] wantW = new float[rows * topK];
            new MoeGate(c, w).route(cpu, cpu.wrapHost(x, x.length), rows, wantIds, wantW);
            float[] logits = new float[rows * e];
            cpu.matmul(w, x, 0, logits, 0, rows);
            DeviceBuffer ids = in.zeros((long) rows * topK);
            DeviceBuffer wts = in.zeros((long) rows * topK);
            k.gateTopK(in.up(logits), rows, e, topK, "group_limited_greedy".equals(c.topkMethod()), c.nGroup(),
                    c.topkGroup(), c.normTopkProb(), (float) c.routedScalingFactor(), ids, wts);
            cx.synchronize();
            int[] gotIds = ids.ints(rows * topK);
            float[] gotW = wts.floats(rows * topK);
            double worst = 0;
            String mismatch = null;
            for (int i = 0; i < rows * topK; i++) {
                double diff = Math.abs(gotW[i] - wantW[i]);
                worst = Math.max(worst, Double.isNaN(diff) ? Double.POSITIVE_INFINITY : diff);
                if (gotIds[i] != wantIds[i] && diff > TOL_GATE && mismatch == null) {
                    mismatch = "row " + i / topK + " slot " + i % topK + ": gpu expert " + gotIds[i] + " (" + gotW[i]
                            + "), cpu expert " + wantIds[i] + " (" + wantW[i] + ")";
                }
            }
            String shape = rows + " rows x " + e + " experts, " + c.topkMethod() + " top-" + topK;
            if (mismatch != null) {
                return new KernelResult("moe_gate_topk", shape, worst, TOL_GATE, "different experts: " + mismatch,
                        false);
            }
            return result("moe_gate_topk", shape, worst, TOL_GATE,
                    "same experts as MoeGate.route; max |weight gpu - cpu|");
        }
    }

    KernelResult sampling(CudaContext cx, CudaKernels k) {
        int vocab = c.vocabSize(), rows = 4, topK = Math.min(20, vocab);
        try (CheckInputs in = new CheckInputs(seed + 9)) {
            float[] logits = in.gaussian(rows * vocab, 3.0);
            // Row 1: a tie of the maximum at two ids (the lower id must win); row 3: a -Infinity (masked) token.
            int hi = vocab - 1;
            int lo = vocab / 3;
            logits[vocab + hi] = 100f;
            logits[vocab + lo] = 100f;
            logits[3 * vocab + 5] = Float.NEGATIVE_INFINITY;
            int[] wantArg = new int[rows];
            Sampler greedy = new Sampler(SamplingParams.builder().temperature(0.0).build());
            for (int r = 0; r < rows; r++) {
                wantArg[r] = greedy.sample(logits, r * vocab, vocab);
            }
            DeviceBuffer dl = in.up(logits);
            DeviceBuffer arg = in.zeros(rows);
            DeviceBuffer ids = in.zeros((long) rows * topK);
            DeviceBuffer lps = in.zeros((long) rows * topK);
            k.argmax(dl, vocab, vocab, rows, arg);
            k.topkLogprobs(dl, vocab, vocab, rows, topK, ids, lps);
            cx.synchronize();
            int[] gotArg = arg.ints(rows);
            int[] gotIds = ids.ints(rows * topK);
            float[] gotLp = lps.floats(rows * topK);
            double worst = 0;
            String shape = rows + " rows x vocab " + vocab + ", top-" + topK;
            String name = "argmax_rows + topk_logprobs + sample_topk";
            for (int r = 0; r < rows; r++) {
                if (gotArg[r] != wantArg[r]) {
                    return new KernelResult(name, shape, Double.NaN, 0, "argmax of row " + r + ": gpu " + gotArg[r]
                            + ", cpu (Sampler, temperature 0) " + wantArg[r], false);
                }
                TopLogprobs want = Logprobs.top(logits, r * vocab, vocab, topK);
                for (int j = 0; j < topK; j++) {
                    if (gotIds[r * topK + j] != want.ids()[j]) {
                        return new KernelResult(name, shape, Double.NaN, 0, "top-k rank " + j + " of row " + r
                                + ": gpu id " + gotIds[r * topK + j] + ", cpu (Logprobs.top) " + want.ids()[j], false);
                    }
                    double diff = Math.abs(gotLp[r * topK + j] - want.logprobs()[j]);
                    worst = Math.max(worst, Double.isNaN(diff) ? Double.POSITIVE_INFINITY : diff);
                }
            }
            // Top-k / top-p draws from the ranked ids: the same token as Sampler for the same uniform draw.
            for (double topP : new double[]{1.0, 0.9}) {
                double temperature = 0.8;
                long[] seeds = new long[rows];
                double[] u = new double[rows];
                for (int r = 0; r < rows; r++) {
                    seeds[r] = seed * 31 + r;
                    u[r] = new SplittableRandom(seeds[r]).nextDouble();
                }
                DeviceBuffer chosen = in.zeros(rows);
                k.sampleTopK(dl, vocab, ids, topK, 1.0 / temperature, topP, in.up(u), rows, chosen);
                cx.synchronize();
                int[] got = chosen.ints(rows);
                for (int r = 0; r < rows; r++) {
                    int want = new Sampler(SamplingParams.builder().temperature(temperature).topK(topK).topP(topP)
                            .seed(seeds[r]).build()).sample(logits, r * vocab, vocab);
                    if (got[r] != want) {
                        return new KernelResult(name, shape, Double.NaN, 0,
                                "top-" + topK + " top-p " + topP + " draw of row " + r + ": gpu " + got[r]
                                        + ", cpu (Sampler, same seed) " + want, false);
                    }
                }
            }
            return result(name, shape, worst, TOL_LOGPROB,
                    "ids identical to Sampler (greedy; top-k/top-p draws with the same seed) and Logprobs.top; "
                            + "max |logprob gpu - cpu|");
        }
    }
}
