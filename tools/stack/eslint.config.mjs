import baseConfig, { allowLaunch } from '../../eslint.config.mjs';

export default [...baseConfig, allowLaunch];
