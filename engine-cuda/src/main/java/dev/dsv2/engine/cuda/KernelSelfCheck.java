package dev.dsv2.engine.cuda;

import dev.dsv2.engine.config.ModelConfig;
import dev.dsv2.engine.config.Yarn;
import dev.dsv2.engine.device.SelfCheckReport.KernelResult;
import dev.dsv2.engine.kernel.ExpertGroups;
import dev.dsv2.engine.kernel.Weight;
import dev.dsv2.engine.kernel.cpu.HostBackend;
import dev.dsv2.engine.model.RotaryEmbedding;
import dev.dsv2.engine.sample.Sampler;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Runs every CUDA kernel once on random inputs of the model's real shapes (from its {@link ModelConfig}) and compares
 * it with the CPU backend doing the same operation, so that kernels that never ran on a given GPU cannot serve wrong
 * tokens. Each check reports its error and tolerance; a kernel that throws (a launch failure, a fault) fails its
 * check with the driver's message.
 *
 * <p>Tolerances ({@link CheckInputs#relativeToRms} unless said otherwise; both sides accumulate in float32, in a
 * different order, so deviations of order 1e-6 are expected):
 * <ul>
 *   <li>GEMV, per-head GEMV, RMSNorm, rope, MLA decode, prefill attention: {@value #TOL_F32};</li>
 *   <li>tensor-core GEMM: {@value #TOL_GEMM} against the CPU product of the bf16-rounded activations (the kernel
 *       rounds activations to bf16 by design; that rounding is not an error of the kernel);</li>
 *   <li>grouped SwiGLU (two products and a SiLU in sequence): {@value #TOL_SWIGLU};</li>
 *   <li>gate top-k: the same experts in the same order (a swap is tolerated only between experts whose CPU scores
 *       differ by less than {@value #TOL_GATE}) and weights within {@value #TOL_GATE} absolute;</li>
 *   <li>argmax: identical ids (ties to the lower id); top-k logprobs: identical ids, logprobs within
 *       {@value #TOL_LOGPROB} absolute; top-k / top-p draws: the token {@link Sampler} draws with the same seed
 *       (the device repeats its double arithmetic operation for operation).</li>
 * </ul>
 */
final class KernelSelfCheck {
    static final double TOL_F32 = 1e-4;
    static final double TOL_GEMM = 5e-4;
    static final double TOL_SWIGLU = 1e-3;
    static final double TOL_GATE = 1e-5;
    static final double TOL_LOGPROB = 1e-5;

    private final ModelConfig c;
    private final HostBackend cpu;
    private final long seed;

    KernelSelfCheck(ModelConfig c, HostBackend cpu, long seed) {
        this.c = c;
        this.cpu = cpu;
        this.seed = seed;
    }

    List<KernelResult> run(CudaContext cx) {
        CudaKernels k = new CudaKernels(cx);
        AttentionAndSamplingChecks more = new AttentionAndSamplingChecks(c, cpu, seed);
        List<KernelResult> out = new ArrayList<>();
        out.add(check("gemv_bf16", "batch 1 and 8 x q_proj/q_b [" + c.numAttentionHeads() * c.qHeadDim() + ", "
                + c.hiddenSize() + "]", () -> gemv(cx, k)));
        out.add(check("gemm_bf16_tc", "100 x kv_a [" + c.latentCacheDim() + ", " + c.hiddenSize() + "], 256 x kv_b",
                () -> gemm(cx, k)));
        out.add(check("gemv_t_bf16_heads + gemv_bf16_heads", "absorbed W_UK^T q and W_UV ctx, 4 rows x "
                + c.numAttentionHeads() + " heads", () -> absorbProjections(cx, k)));
        out.add(check("swiglu_gate_up/down/combine", "16 rows x top-" + c.numExpertsPerTok() + " of 8 experts ["
                + c.moeIntermediateSize() + ", " + c.hiddenSize() + "]", () -> swiGlu(cx, k)));
        out.add(check("rms_norm_f32", "8 x " + c.hiddenSize() + " and 8 x " + c.kvLoraRank(), () -> rmsNorm(cx, k)));
        out.add(check("rope_yarn", "6 rows x " + c.numAttentionHeads() + " heads x " + c.qkRopeHeadDim()
                + " at positions up to 32767", () -> rope(cx, k)));
        out.add(check("mla_decode_partial + mla_decode_combine", "4 rows of 1..1111 tokens, " + c.numAttentionHeads()
                + " heads, " + c.latentCacheDim() + "-dim paged latent (64-token blocks)", () -> more.mlaDecode(cx, k)));
        out.add(check("prefill_attention_f32", "96 queries over 160 keys, " + c.numAttentionHeads() + " heads, dk "
                + c.qHeadDim() + ", dv " + c.vHeadDim(), () -> more.prefill(cx, k)));
        out.add(check("moe_gate_topk", "16 rows x " + c.nRoutedExperts() + " experts, " + c.topkMethod() + " top-"
                + c.numExpertsPerTok(), () -> more.gate(cx, k)));
        out.add(check("argmax_rows + topk_logprobs + sample_topk", "4 rows x vocab " + c.vocabSize()
                + ", top-20", () -> more.sampling(cx, k)));
        return out;
    }

    private static KernelResult check(String kernel, String shape, Supplier<KernelResult> body) {
        try {
            return body.get();
        } catch (RuntimeException e) {
            return new KernelResult(kernel, shape, Double.NaN, 0, "failed to run: " + e, false);
        }
    }

    static KernelResult result(String kernel, String shape, double error, double tol, String measure) {
        return new KernelResult(kernel, shape, error, tol, measure, error <= tol);
    }

    private KernelResult gemv(CudaContext cx, CudaKernels k) {
        int d = c.hiddenSize();
        int rows = c.numAttentionHeads() * c.qHeadDim();
        try (CheckInputs in = new CheckInputs(seed)) {
            Weight w = in.weight("q_proj", rows, d);
            DeviceBuffer dw = in.up(w);
            double worst = 0;
            for (int batch : new int[]{1, 8}) {
                float[] x = in.gaussian(batch * d, 1.0);
                float[] want = new float[batch * rows];
                cpu.matmul(w, x, 0, want, 0, batch);
                DeviceBuffer out = in.zeros((long) batch * rows);
                k.gemv(in.up(x), d, dw, rows, d, out, rows, batch);
                cx.synchronize();
                worst = Math.max(worst, CheckInputs.relativeToRms(out.floats(batch * rows), want, batch * rows));
            }
            return result("gemv_bf16", "batch 1, 8 x [" + rows + ", " + d + "]", worst, TOL_F32,
                    "max |gpu - cpu| / rms(cpu) of HostKernels.matmul");
        }
    }

    private KernelResult gemm(CudaContext cx, CudaKernels k) {
        int d = c.hiddenSize();
        int ckv = c.kvLoraRank();
        int kvb = c.numAttentionHeads() * (c.qkNopeHeadDim() + c.vHeadDim());
        try (CheckInputs in = new CheckInputs(seed + 1)) {
            double worst = 0;
            int[][] shapes = {{100, c.latentCacheDim(), d}, {256, kvb, ckv}};
            for (int[] s : shapes) {
                int m = s[0], n = s[1], kk = s[2];
                Weight w = in.weight("w", n, kk);
                float[] x = in.gaussian(m * kk, 1.0);
                float[] want = new float[m * n];
                cpu.matmul(w, CheckInputs.roundedToBf16(x), 0, want, 0, m);
                DeviceBuffer out = in.zeros((long) m * n);
                k.gemm(in.up(x), kk, in.up(w), out, n, m, n, kk);
                cx.synchronize();
                worst = Math.max(worst, CheckInputs.relativeToRms(out.floats(m * n), want, m * n));
            }
            return result("gemm_bf16_tc", "100 x [" + c.latentCacheDim() + ", " + d + "], 256 x [" + kvb + ", " + ckv
                    + "]", worst, TOL_GEMM, "max |gpu - cpu| / rms(cpu), CPU fed the bf16-rounded activations");
        }
    }

    private KernelResult absorbProjections(CudaContext cx, CudaKernels k) {
        int h = c.numAttentionHeads(), dn = c.qkNopeHeadDim(), dv = c.vHeadDim(), dq = c.qHeadDim();
        int ckv = c.kvLoraRank(), qa = c.latentCacheDim(), n = 4, headRows = dn + dv;
        try (CheckInputs in = new CheckInputs(seed + 2)) {
            Weight kvB = in.weight("kv_b_proj", h * headRows, ckv);
            DeviceBuffer dkvB = in.up(kvB);
            float[] q = in.gaussian(n * h * dq, 1.0);
            float[] wantQ = new float[n * h * qa];
            float[] ctx = in.gaussian(n * h * ckv, 1.0);
            float[] wantO = new float[n * h * dv];
            for (int hh = 0; hh < h; hh++) {
                cpu.matmulTransposed(kvB.rowSlice(hh * headRows, dn), q, hh * dq, h * dq, wantQ, hh * qa, h * qa, n);
                cpu.matmul(kvB.rowSlice(hh * headRows + dn, dv), ctx, hh * ckv, h * ckv, wantO, hh * dv, h * dv, n);
            }
            DeviceBuffer gotQ = in.zeros((long) n * h * qa);
            DeviceBuffer gotO = in.zeros((long) n * h * dv);
            k.gemvTransposedHeads(in.up(q), h * dq, dq, dkvB, ckv, headRows, 0, dn, gotQ, h * qa, qa, n, h);
            k.gemvHeads(in.up(ctx), h * ckv, ckv, dkvB, ckv, headRows, dn, dv, gotO, h * dv, dv, n, h);
            cx.synchronize();
            // Only the latent part of each absorbed query is written by the kernel (q_pe is copied separately).
            float[] gq = gotQ.floats(n * h * qa);
            float[] gqLat = new float[n * h * ckv];
            float[] wqLat = new float[n * h * ckv];
            for (int r = 0; r < n * h; r++) {
                System.arraycopy(gq, r * qa, gqLat, r * ckv, ckv);
                System.arraycopy(wantQ, r * qa, wqLat, r * ckv, ckv);
            }
            double err = Math.max(CheckInputs.relativeToRms(gqLat, wqLat, n * h * ckv),
                    CheckInputs.relativeToRms(gotO.floats(n * h * dv), wantO, n * h * dv));
            return result("gemv_t_bf16_heads + gemv_bf16_heads", n + " rows x " + h + " heads, kv_b [" + h * headRows
                    + ", " + ckv + "]", err, TOL_F32, "max |gpu - cpu| / rms(cpu) of HostKernels.matmulTransposed / "
                    + "matmul over W_UK / W_UV row slices");
        }
    }

    private KernelResult swiGlu(CudaContext cx, CudaKernels k) {
        int d = c.hiddenSize(), inter = c.moeIntermediateSize(), experts = 8, rows = 16;
        int topK = Math.min(c.numExpertsPerTok(), experts);
        try (CheckInputs in = new CheckInputs(seed + 3)) {
            Weight[] g = new Weight[experts], u = new Weight[experts], dn = new Weight[experts];
            for (int e = 0; e < experts; e++) {
                g[e] = in.weight("gate" + e, inter, d);
                u[e] = in.weight("up" + e, inter, d);
                dn[e] = in.weight("down" + e, d, inter);
            }
            // Each row picks topK distinct experts with random scales; groups in expert order (as MoeBlock does).
            List<List<Integer>> byExpert = new ArrayList<>();
            List<List<Float>> scalesByExpert = new ArrayList<>();
            for (int e = 0; e < experts; e++) {
                byExpert.add(new ArrayList<>());
                scalesByExpert.add(new ArrayList<>());
            }
            for (int r = 0; r < rows; r++) {
                boolean[] taken = new boolean[experts];
                for (int j = 0; j < topK; j++) {
                    int e;
                    do {
                        e = in.random().nextInt(experts);
                    } while (taken[e]);
                    taken[e] = true;
                    byExpert.get(e).add(r);
                    scalesByExpert.get(e).add((float) in.random().nextDouble(0.05, 1.0));
                }
            }
            ExpertGroups groups = new ExpertGroups();
            List<Integer> used = new ArrayList<>();
            List<Integer> starts = new ArrayList<>();
            List<Integer> entryRows = new ArrayList<>();
            List<Float> entryScales = new ArrayList<>();
            for (int e = 0; e < experts; e++) {
                if (byExpert.get(e).isEmpty()) {
                    continue;
                }
                groups.addGroup(g[e], u[e], dn[e]);
                used.add(e);
                starts.add(entryRows.size());
                for (int j = 0; j < byExpert.get(e).size(); j++) {
                    int r = byExpert.get(e).get(j);
                    float s = scalesByExpert.get(e).get(j);
                    groups.addRow(r, s);
                    entryRows.add(r);
                    entryScales.add(s);
                }
            }
            starts.add(entryRows.size());
            float[] x = in.gaussian(rows * d, 1.0);
            float[] base = in.gaussian(rows * d, 1.0);
            float[] want = base.clone();
            cpu.swiGlu(groups, x, 0, want, 0);

            DeviceBuffer[] dg = new DeviceBuffer[used.size()], du = new DeviceBuffer[used.size()],
                    dd = new DeviceBuffer[used.size()];
            for (int i = 0; i < used.size(); i++) {
                dg[i] = in.up(g[used.get(i)]);
                du[i] = in.up(u[used.get(i)]);
                dd[i] = in.up(dn[used.get(i)]);
            }
            float[] sc = new float[entryScales.size()];
            for (int i = 0; i < sc.length; i++) {
                sc[i] = entryScales.get(i);
            }
            DeviceBuffer out = in.up(base);
            try (SwiGluPlan plan = SwiGluPlan.build(starts.stream().mapToInt(Integer::intValue).toArray(),
                    entryRows.stream().mapToInt(Integer::intValue).toArray(), sc, dg, du, dd, d, inter)) {
                k.swiGlu(in.up(x), d, inter, plan, out);
                cx.synchronize();
            }
            float[] got = out.floats(rows * d);
            float[] gotDelta = new float[rows * d];
            float[] wantDelta = new float[rows * d];
            for (int i = 0; i < rows * d; i++) {
                gotDelta[i] = got[i] - base[i];
                wantDelta[i] = want[i] - base[i];
            }
            return result("swiglu_gate_up/down/combine", rows + " rows x top-" + topK + " of " + experts
                    + " experts [" + inter + ", " + d + "]", CheckInputs.relativeToRms(gotDelta, wantDelta, rows * d),
                    TOL_SWIGLU, "max |gpu - cpu| / rms(cpu) of the added expert output, Backend.swiGlu");
        }
    }

    private KernelResult rmsNorm(CudaContext cx, CudaKernels k) {
        float eps = (float) c.rmsNormEps();
        int rows = 8;
        double worst = 0;
        try (CheckInputs in = new CheckInputs(seed + 4)) {
            for (int n : new int[]{c.hiddenSize(), c.kvLoraRank()}) {
                float[] x = in.gaussian(rows * n, 2.0);
                float[] w = in.gaussian(n, 1.0);
                float[] want = new float[rows * n];
                for (int r = 0; r < rows; r++) {
                    cpu.rmsNorm(x, r * n, w, eps, want, r * n);
                }
                DeviceBuffer out = in.zeros((long) rows * n);
                k.rmsNorm(in.up(x), n, in.up(w), eps, out, n, n, rows);
                cx.synchronize();
                worst = Math.max(worst, CheckInputs.relativeToRms(out.floats(rows * n), want, rows * n));
            }
        }
        return result("rms_norm_f32", "8 x " + c.hiddenSize() + ", 8 x " + c.kvLoraRank(), worst, TOL_F32,
                "max |gpu - cpu| / rms(cpu) of HostKernels.rmsNorm");
    }

    private KernelResult rope(CudaContext cx, CudaKernels k) {
        int h = c.numAttentionHeads(), dq = c.qHeadDim(), dn = c.qkNopeHeadDim(), dr = c.qkRopeHeadDim(), rows = 6;
        RotaryEmbedding rope = new RotaryEmbedding(c);
        try (CheckInputs in = new CheckInputs(seed + 5)) {
            int[] pos = {0, 1, 63, 4097, 20000, 32767};
            float[] q = in.gaussian(rows * h * dq, 1.0);
            float[] want = q.clone();
            float[] cs = new float[rope.bufferSize()];
            for (int r = 0; r < rows; r++) {
                HostBackend.ropeTable(rope.inverseFrequencies(), rope.scale(), pos[r], cs, 0);
                for (int hh = 0; hh < h; hh++) {
                    HostBackend.rotate(dr, want, (r * h + hh) * dq + dn, cs, 0);
                }
            }
            DeviceBuffer dq0 = in.up(q);
            k.rope(dq0.slice(dn), h * dq, dq, rows, h, in.up(pos),
                    in.up(Yarn.inverseFrequencies(dr, c.ropeTheta(), c.ropeScaling())),
                    Yarn.cosSinScale(c.ropeScaling()), dr);
            cx.synchronize();
            return result("rope_yarn", rows + " rows x " + h + " heads x " + dr + ", positions 0..32767",
                    CheckInputs.relativeToRms(dq0.floats(rows * h * dq), want, rows * h * dq), TOL_F32,
                    "max |gpu - cpu| / rms(cpu) of HostBackend.ropeTable + rotate (interleaved -> halves)");
        }
    }

}
