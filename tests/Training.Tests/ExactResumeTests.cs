using BiasBench.Networks.Vision;
using TorchSharp;
using static TorchSharp.torch;

namespace BiasBench.Training.Tests;

/// <summary>
/// Train N steps uninterrupted vs train k steps, "kill" (dispose every object), rebuild from the checkpoint in a fresh
/// object graph and continue: on the CPU the parameters, batch-norm statistics and optimiser state must be bit-identical.
/// </summary>
public sealed class ExactResumeTests
{
    private const int Seed = 17, Steps = 6, BatchSize = 4;
    private static readonly ResNetConfig Tiny = new(ResNetBlockKind.Basic, [1, 1, 1, 1], 8, [4, 1]);

    internal sealed class Run : IDisposable
    {
        public ResNetClassifier Model { get; }
        public AdamW Optimizer { get; }
        public Generator Noise { get; }
        public CosineWarmupSchedule Schedule { get; } = new(3e-3, 2, Steps);

        public Run()
        {
            Model = new ResNetClassifier(Tiny);
            using (var init = Seeding.Torch(Seed, -1)) ResNetCheckpoint.Initialize(Model, init);
            Optimizer = new AdamW(Model.named_parameters(), weightDecay: 0.01);
            // A generator whose state must survive the checkpoint (stands in for e.g. dropout or diffusion noise).
            Noise = Seeding.Torch(Seed, -2);
            Model.train();
        }

        public void Step(long step)
        {
            using var scope = NewDisposeScope();
            // Data drawn from (seed, step) only, as the trainer's per-sample augmentation is.
            using var data = Seeding.Torch(Seed, step);
            var x = randn([BatchSize, 3, 32, 32], generator: data) + 0.01 * randn([BatchSize, 3, 32, 32], generator: Noise);
            var y = randint(0, 2, [BatchSize, 1], generator: data).to(ScalarType.Float32);
            var loss = nn.functional.binary_cross_entropy_with_logits(Model.forward(x), y);
            Optimizer.ZeroGrad();
            loss.backward();
            GradientClipping.ClipByGlobalNorm(Model.parameters(), 1.0);
            Optimizer.Update(Schedule.At(step));
        }

        public Dictionary<string, float[]> Snapshot()
        {
            var s = new Dictionary<string, float[]>();
            foreach (var (n, t) in Model.state_dict()) s["model." + n] = t.to(ScalarType.Float32).data<float>().ToArray();
            foreach (var (n, t) in Optimizer.StateTensors()) s["opt." + n] = t.data<float>().ToArray();
            return s;
        }

        public void Dispose() { Optimizer.Dispose(); Model.Dispose(); Noise.Dispose(); }
    }

    [Fact]
    public void Resumed_training_is_bit_identical_to_uninterrupted_training()
    {
        Dictionary<string, float[]> straight;
        using (var run = new Run())
        {
            for (var s = 0; s < Steps; s++) run.Step(s);
            straight = run.Snapshot();
        }

        var dir = Directory.CreateTempSubdirectory("resume-");
        try
        {
            var path = Path.Combine(dir.FullName, "checkpoint.safetensors");
            const int killedAt = 3;
            using (var first = new Run())
            {
                for (var s = 0; s < killedAt; s++) first.Step(s);
                var position = new TrainingPosition { Step = killedAt, Epoch = 0, BatchInEpoch = killedAt };
                position.Extra["note"] = "killed";
                TrainingCheckpoint.Save(path, first.Model, first.Optimizer, position, "settings-a", new Dictionary<string, Generator> { ["noise"] = first.Noise });
                // Keep going a little, as a killed process would have, then throw everything away.
                first.Step(killedAt);
            }

            Dictionary<string, float[]> resumed;
            using (var second = new Run())
            {
                var position = TrainingCheckpoint.Restore(path, second.Model, second.Optimizer, "settings-a", new Dictionary<string, Generator> { ["noise"] = second.Noise });
                Assert.Equal(killedAt, position.Step);
                Assert.Equal("killed", position.Extra["note"]!.GetValue<string>());
                Assert.Equal(killedAt, second.Optimizer.Step);
                for (var s = position.Step; s < Steps; s++) second.Step(s);
                resumed = second.Snapshot();
            }

            Assert.Equal(straight.Keys.Order(), resumed.Keys.Order());
            foreach (var (name, values) in straight)
                Assert.True(values.AsSpan().SequenceEqual(resumed[name]), $"{name} differs after resume");

            using var other = new Run();
            var e = Assert.Throws<InvalidDataException>(() => TrainingCheckpoint.Restore(path, other.Model, other.Optimizer, "settings-b"));
            Assert.Contains(path, e.Message);
        }
        finally { dir.Delete(recursive: true); }
    }
}
