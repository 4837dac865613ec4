import * as tfl from '@tensorflow/tfjs-layers';
import { Prng } from '../prng.ts';

/**
 * A ReLU MLP classifier producing logits. Each layer's initializer gets its own seed drawn from `seed`:
 * two layers with one seed and the same fan-in would otherwise start from correlated weights.
 */
export function buildMlp(
  inputDim: number,
  hidden: readonly number[],
  numClasses: number,
  seed: number,
): tfl.LayersModel {
  const seeds = new Prng(seed);
  const model = tfl.sequential();
  const sizes = [...hidden, numClasses];
  sizes.forEach((units, i) => {
    model.add(
      tfl.layers.dense({
        units,
        activation: i < hidden.length ? 'relu' : 'linear',
        ...(i === 0 ? { inputShape: [inputDim] } : {}),
        kernelInitializer: tfl.initializers.glorotUniform({ seed: seeds.seed() }),
        biasInitializer: 'zeros',
        name: i < hidden.length ? `hidden${i + 1}` : 'logits',
      }),
    );
  });
  return model;
}
